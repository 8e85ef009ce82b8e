import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../bench/lib/args.ts';
import { GROUPS } from '../../../bench/lib/measures.ts';
import { ValidationError } from '../../../shared/core/errors.ts';

function problems(argv: string[]): string[] {
  try {
    parseArgs(argv);
  } catch (err) {
    if (err instanceof ValidationError) return err.details.map((d) => `${d.path}: ${d.message}`);
    throw err;
  }
  return [];
}

describe('Function: parseArgs', () => {
  it('runs every group with Dask and recc when given no options', () => {
    const o = parseArgs([]);
    expect(o).toMatchObject({ json: false, quick: false, dask: true, recc: true, timeoutS: 240, settleS: 10, profileDir: null });
    expect(o.only).toEqual([...GROUPS]);
  });

  it('keeps catalogue order when --only lists groups in another order', () => {
    const o = parseArgs(['--only', 'latency,map_noop', '--json', '--quick']);
    expect(o.only).toEqual(['map_noop', 'latency']);
    expect(o.json).toBe(true);
    expect(o.quick).toBe(true);
  });

  it('accepts --flag=value forms', () => {
    const o = parseArgs(['--only=start', '--timeout=30', '--profile=/tmp/p']);
    expect(o).toMatchObject({ only: ['start'], timeoutS: 30, profileDir: '/tmp/p' });
  });

  it('lists every problem when given several invalid options', () => {
    const p = problems(['--only', 'map_noop,nope', '--timeout', '-3', '--frobnicate']);
    expect(p).toEqual([
      expect.stringMatching(/^--only: unknown group "nope"/),
      '--timeout: must be a positive number of seconds, got "-3"',
      '--frobnicate: unknown option',
    ]);
  });

  it('refuses a flag whose value is missing', () => {
    expect(problems(['--only'])).toEqual(['--only: needs a value']);
    expect(problems(['--timeout', '--json'])).toContain('--timeout: needs a value');
  });

  it('refuses --no-dask together with --no-recc', () => {
    expect(problems(['--no-dask', '--no-recc'])).toHaveLength(1);
  });
});
