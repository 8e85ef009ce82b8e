import { describe, expect, it } from 'vitest';
import type { RunLogStore } from '../../shared/ports/run-logs.ts';

/**
 * The RunLogStore contract (`shared/ports/run-logs.ts`), run against every
 * adapter: a copy replaces the previous one, a run without a copy has no
 * log, text survives byte for byte, and nothing but a run id becomes a key.
 */
export function runLogStoreConformance(name: string, make: () => Promise<{ store: RunLogStore; refPrefix: string }>): void {
  describe(`RunLogStore conformance: ${name}`, () => {
    it('stores, replaces and reads a run log; a run without one has none', async () => {
      const { store, refPrefix } = await make();
      const run = 'r-0abc123def456-20261205t120000000z';
      expect(await store.get(run)).toBeUndefined();
      expect(await store.put(run, 'first\n')).toBe(`${refPrefix}job-runs/${run}/driver.log`);
      const text = 'backfill 2026-12-05 ✓ — 24 partitions\nstderr: Error: boom\n\u0000tail';
      await store.put(run, text);
      expect(await store.get(run)).toBe(text);
      expect(await store.get('r-0abc123def456-20261205t130000000z')).toBeUndefined();
      await store.put('r-empty', '');
      expect(await store.get('r-empty')).toBe('');
    });

    it('refuses anything but a run id as a key', async () => {
      const { store } = await make();
      for (const bad of ['../etc/passwd', 'r-../../x', 'R-UPPER', 'r-a/b', '', 'c-123', '__proto__', 'r-a\nb']) {
        await expect(store.put(bad, 'x'), JSON.stringify(bad)).rejects.toThrow(RangeError);
        await expect(store.get(bad), JSON.stringify(bad)).rejects.toThrow(RangeError);
      }
    });
  });
}
