import { describe, expect, it } from 'vitest';
import { parseResults, runChild, tail } from '../../../bench/lib/child.ts';
import { isAlive, waitFor } from '../../support/wait.ts';

describe('Function: parseResults', () => {
  it('keeps result objects and skips log noise and broken lines', () => {
    // Prepare
    const text = [
      '{"name":"start","value":0.2,"unit":"s"}',
      'some warning printed by a library',
      '{"name":"map_noop","value":',
      '{"level":"info","message":"no name field"}',
      '  {"name":"latency_p50","value":0.4,"unit":"ms","samples":500}  ',
      '',
    ].join('\n');

    // Act
    const r = parseResults(text);

    // Assess
    expect(r).toEqual([
      { name: 'start', value: 0.2, unit: 's' },
      { name: 'latency_p50', value: 0.4, unit: 'ms', samples: 500 },
    ]);
  });
});

describe('Function: tail', () => {
  it('returns the last lines without a trailing newline', () => {
    expect(tail('a\nb\nc\nd\n', 2)).toBe('c\nd');
  });
});

describe('Function: runChild', () => {
  it('returns the exit code and the output when the child finishes', async () => {
    // Act
    const r = await runChild(process.execPath, ['-e', 'console.log("hello"); console.error("oops"); process.exit(3)'], { timeoutS: 60 });

    // Assess
    expect(r).toMatchObject({ code: 3, timedOut: false });
    expect(r.output).toContain('hello');
    expect(r.output).toContain('oops');
  });

  it('kills the child and its own children when the time limit passes', async () => {
    // Prepare: the child starts a grandchild that would run forever and prints its pid
    const script = `
      const { spawn } = require('node:child_process');
      const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      console.log('grandchild=' + g.pid);
      setInterval(() => {}, 1000);
    `;

    // Act
    const r = await runChild(process.execPath, ['-e', script], { timeoutS: 1 });

    // Assess
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    const pid = Number(/grandchild=(\d+)/.exec(r.output)?.[1]);
    expect(pid).toBeGreaterThan(0);
    await waitFor(() => !isAlive(pid), { what: `grandchild ${pid} to exit` });
  });

  it('reports a spawn failure when the command does not exist', async () => {
    const r = await runChild('/nonexistent/bench-binary', [], { timeoutS: 5 });
    expect(r.code).toBeNull();
    expect(r.output).toContain('spawn failed');
  });
});
