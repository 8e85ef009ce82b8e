import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addSpecFlags, parseNumberFlag, specOverridesFromFlags, type SpecFlagValues } from '../../../cli/spec-flags.ts';
import { ValidationError } from '../../../shared/core/errors.ts';

/** Parse argv with a throwaway command carrying the spec flags; return the overrides. */
function overrides(args: string[]): Record<string, unknown> {
  let opts: SpecFlagValues = {};
  const program = new Command('t').exitOverride();
  const sub = program.command('x').action((o: SpecFlagValues) => {
    opts = o;
  });
  addSpecFlags(sub);
  const argv = ['node', 't', 'x', ...args];
  program.parse(argv);
  return specOverridesFromFlags(opts, argv);
}

describe('Function: specOverridesFromFlags', () => {
  it('returns no overrides when given no flags', () => {
    expect(overrides([])).toEqual({});
  });

  it('maps every flag to its spec field and parses numbers', () => {
    const o = overrides([
      '--instance-type', 'm5.xlarge',
      '--workers', '8',
      '--worker-cpu', '0.5',
      '--worker-memory', '2',
      '--scheduler-cpu', '1',
      '--scheduler-memory', '3',
      '--resource', 'GPU=1',
      '--resource', 'licence=2.5',
      '--image', 'recc:dev',
      '--source-branch', 'feature/x',
      '--env', 'A=1',
      '--env', 'B=x=y',
      '--tag', 'team=physics',
      '--idle-timeout', '10',
      '--max-lifetime', '4',
    ]);
    expect(o).toEqual({
      instanceType: 'm5.xlarge',
      nWorkers: 8,
      workerCpu: 0.5,
      workerMemoryGiB: 2,
      schedulerCpu: 1,
      schedulerMemoryGiB: 3,
      resources: { GPU: 1, licence: 2.5 },
      image: 'recc:dev',
      sourceGitBranch: 'feature/x',
      env: { A: '1', B: 'x=y' },
      tags: { team: 'physics' },
      idleTimeoutMinutes: 10,
      maxLifetimeHours: 4,
    });
  });

  it('keeps a negative number and a non-number as given so validation can report them', () => {
    expect(overrides(['--workers', '-3', '--worker-cpu', 'lots', '--resource', 'GPU'])).toEqual({
      nWorkers: -3,
      workerCpu: 'lots',
      resources: { GPU: '' },
    });
  });

  it('refuses --env and --tag values without "=" and names each one, when they would silently become empty', () => {
    // Act
    const act = () => overrides(['--env', 'FOO', '--env', 'OK=1', '--tag', 'team', '--env', 'EMPTY=']);

    // Assess
    expect(act).toThrow(ValidationError);
    try {
      act();
    } catch (err) {
      expect((err as ValidationError).details).toEqual([
        { path: 'env.FOO', message: '--env expected NAME=VALUE (got "FOO"); write --env FOO= for an empty value' },
        { path: 'tags.team', message: '--tag expected NAME=VALUE (got "team"); write --tag team= for an empty value' },
      ]);
    }
  });

  it('keeps an explicit empty value given as NAME=', () => {
    expect(overrides(['--env', 'EMPTY=', '--tag', 'note='])).toEqual({ env: { EMPTY: '' }, tags: { note: '' } });
  });

  it('orders fields as the flags appear on the command line', () => {
    expect(Object.keys(overrides(['--workers', '-3', '--instance-type', 'c5.xlarge2']))).toEqual(['nWorkers', 'instanceType']);
    expect(Object.keys(overrides(['--instance-type=c5.xlarge2', '--workers=-3']))).toEqual(['instanceType', 'nWorkers']);
  });
});

describe('Function: parseNumberFlag', () => {
  it.each([
    ['3', 3],
    ['-3', -3],
    ['+1.5', 1.5],
    ['.5', 0.5],
    ['1e3', 1000],
    [' 2 ', 2],
    ['0x10', '0x10'],
    ['', ''],
    ['3 workers', '3 workers'],
    ['Infinity', 'Infinity'],
  ])('parses %j as %j', (raw, expected) => {
    expect(parseNumberFlag(raw)).toBe(expected);
  });
});
