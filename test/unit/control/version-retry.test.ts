import { describe, expect, it } from 'vitest';
import { DEFAULT_VERSION_RETRIES, withVersionRetry } from '../../../control/version-retry.ts';
import { CONFLICT_BACKOFF } from '../../../shared/core/retry.ts';
import { VersionConflictError } from '../../../shared/ports/errors.ts';

/** The one version-conflict policy used by the cluster API and the provisioner. */
describe('Function: withVersionRetry', () => {
  const conflict = () => new VersionConflictError('c-1', 3, undefined);

  it('re-runs the attempt after each lost race, pausing by CONFLICT_BACKOFF, until it wins', async () => {
    // Prepare
    const pauses: number[] = [];
    let runs = 0;

    // Act
    const result = await withVersionRetry(
      async (n) => {
        runs += 1;
        if (n < 4) throw conflict();
        return 'won';
      },
      { sleep: async (ms) => void pauses.push(ms), random: () => 1 },
    );

    // Assess: full jitter with random() = 1 is the exponential ceiling, capped at maxMs.
    expect(result).toBe('won');
    expect(runs).toBe(5);
    expect(pauses).toEqual([10, 20, 40, 80].map((ms) => Math.min(ms, CONFLICT_BACKOFF.maxMs)));
  });

  it('gives up after DEFAULT_VERSION_RETRIES further attempts and rethrows the last conflict', async () => {
    let runs = 0;
    const last = conflict();
    const err = await withVersionRetry(
      async () => {
        runs += 1;
        throw runs === DEFAULT_VERSION_RETRIES + 1 ? last : conflict();
      },
      { sleep: async () => {} },
    ).catch((e: unknown) => e);
    expect(runs).toBe(DEFAULT_VERSION_RETRIES + 1);
    expect(err).toBe(last);
  });

  it('does not retry any other error', async () => {
    let runs = 0;
    const boom = new Error('store down');
    const err = await withVersionRetry(
      async () => {
        runs += 1;
        throw boom;
      },
      { sleep: async () => {} },
    ).catch((e: unknown) => e);
    expect(err).toBe(boom);
    expect(runs).toBe(1);
  });

  it('reports each conflict before its pause', async () => {
    const seen: [number, number][] = [];
    await withVersionRetry(
      async (n) => {
        if (n < 2) throw conflict();
      },
      { retries: 2, sleep: async () => {}, random: () => 0.5, onConflict: (c, attempt, ms) => void seen.push([attempt, ms]) },
    );
    expect(seen).toEqual([
      [0, 5],
      [1, 10],
    ]);
  });
});
