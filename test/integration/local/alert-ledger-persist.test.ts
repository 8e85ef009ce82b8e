import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startLocalStack, type PeriodicJobContext } from '../../../local/stack.ts';
import { tempStateDir } from '../../support/local-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Issue 17 #11: on `recc up` the cost reporter's alert markers are kept in the
 * local store (dynalite on disk under the state dir), so a restart does not
 * send an alert again. The periodic jobs get the stack's ledger; a claim made
 * before a restart is still there after it.
 */
describe('recc up keeps the alert ledger in the local store', () => {
  it('remembers a claimed alert across a restart of the stack', async () => {
    const stateDir = tempStateDir('alert-ledger');
    const start = async () => {
      let seen: PeriodicJobContext['alertLedger'];
      const stack = await startLocalStack({ port: 0, stateDir, periodicJobs: [{ name: 'probe', intervalMs: 20, run: async (ctx) => void (seen = ctx.alertLedger) }] });
      const ledger = await waitFor(() => seen, { what: 'a periodic run with the alert ledger' });
      return { stack, ledger };
    };
    try {
      const first = await start();
      const far = new Date(Date.now() + 86_400_000).toISOString();
      expect(await first.ledger.claim('2026-12/user/alice/actual/80/email', { at: new Date().toISOString(), expiresAt: far })).toBe(true);
      await first.stack.close();

      const second = await start();
      try {
        expect(await second.ledger.has('2026-12/user/alice/actual/80/email')).toBe(true);
        expect(await second.ledger.claim('2026-12/user/alice/actual/80/email', { at: new Date().toISOString(), expiresAt: far })).toBe(false);
      } finally {
        await second.stack.close();
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 120_000);
});
