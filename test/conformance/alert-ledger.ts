import { describe, expect, it } from 'vitest';
import type { AlertClaim, AlertLedger } from '../../shared/ports/alert-ledger.ts';

/**
 * The AlertLedger contract (`shared/ports/alert-ledger.ts`), run against every
 * adapter. `makeLedger` returns a fresh ledger (own table or namespace) and a
 * way to move its clock, for the expiry case.
 */
export interface LedgerUnderTest {
  ledger: AlertLedger;
  /** Set the ledger's notion of now (ms). */
  setNow(ms: number): void;
}

const T0 = Date.UTC(2026, 10, 16);
const claim = (over: Partial<AlertClaim> = {}): AlertClaim => ({
  at: new Date(T0).toISOString(),
  expiresAt: new Date(T0 + 30 * 86_400_000).toISOString(),
  note: 'recc cost alert: user alice',
  ...over,
});

export function alertLedgerConformance(name: string, makeLedger: () => Promise<LedgerUnderTest>): void {
  describe(`AlertLedger conformance: ${name}`, () => {
    it('claims a key once and refuses it afterwards', async () => {
      const { ledger } = await makeLedger();
      expect(await ledger.has('k1')).toBe(false);
      expect(await ledger.claim('k1', claim())).toBe(true);
      expect(await ledger.claim('k1', claim())).toBe(false);
      expect(await ledger.has('k1')).toBe(true);
    });

    it('keeps keys independent', async () => {
      const { ledger } = await makeLedger();
      expect(await ledger.claim('cost-alert#2026-11#user#alice#forecast#1000.00#slack', claim())).toBe(true);
      expect(await ledger.claim('cost-alert#2026-11#user#alice#forecast#1000.00#email', claim())).toBe(true);
      expect(await ledger.claim('cost-alert#2026-12#user#alice#forecast#1000.00#slack', claim())).toBe(true);
    });

    it('gives exactly one of 20 concurrent claimers the key', async () => {
      const { ledger } = await makeLedger();
      const results = await Promise.all(Array.from({ length: 20 }, () => ledger.claim('race', claim())));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('lets a released key be claimed again, and releasing a missing key succeeds', async () => {
      const { ledger } = await makeLedger();
      await ledger.claim('k1', claim());
      await ledger.release('k1');
      expect(await ledger.has('k1')).toBe(false);
      expect(await ledger.claim('k1', claim())).toBe(true);
      await expect(ledger.release('never-claimed')).resolves.toBeUndefined();
    });

    it('treats an expired claim as absent', async () => {
      const { ledger, setNow } = await makeLedger();
      setNow(T0);
      await ledger.claim('k1', claim({ expiresAt: new Date(T0 + 1000).toISOString() }));
      expect(await ledger.has('k1')).toBe(true);
      setNow(T0 + 2000);
      expect(await ledger.has('k1')).toBe(false);
      expect(await ledger.claim('k1', claim({ at: new Date(T0 + 2000).toISOString() }))).toBe(true);
    });
  });
}
