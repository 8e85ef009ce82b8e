import type { AlertClaim, AlertLedger } from '../../shared/ports/alert-ledger.ts';

/**
 * In-memory AlertLedger: a Map, claimed atomically (no await between the
 * check and the write). A claim past its `expiresAt` counts as absent. For
 * tests and a local stack without DynamoDB.
 */
export class InMemoryAlertLedger implements AlertLedger {
  private readonly claims = new Map<string, AlertClaim>();

  constructor(private readonly now: () => number = Date.now) {}

  async claim(key: string, claim: AlertClaim): Promise<boolean> {
    if (this.live(key)) return false;
    this.claims.set(key, { ...claim });
    return true;
  }

  async release(key: string): Promise<void> {
    this.claims.delete(key);
  }

  async has(key: string): Promise<boolean> {
    return this.live(key);
  }

  /** Every claimed key, expired or not (tests, diagnostics). */
  keys(): string[] {
    return [...this.claims.keys()].sort();
  }

  private live(key: string): boolean {
    const c = this.claims.get(key);
    if (!c) return false;
    const expires = Date.parse(c.expiresAt);
    return !(Number.isFinite(expires) && expires <= this.now());
  }
}
