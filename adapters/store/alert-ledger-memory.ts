import type { AlertClaim, AlertLedger } from '../../shared/ports/alert-ledger.ts';

/**
 * In-memory AlertLedger: a Map, claimed atomically (no await between the
 * check and the write). For tests and a local stack without DynamoDB.
 */
export class InMemoryAlertLedger implements AlertLedger {
  private readonly claims = new Map<string, AlertClaim>();

  async claim(key: string, claim: AlertClaim): Promise<boolean> {
    if (this.claims.has(key)) return false;
    this.claims.set(key, { ...claim });
    return true;
  }

  async release(key: string): Promise<void> {
    this.claims.delete(key);
  }

  async has(key: string): Promise<boolean> {
    return this.claims.has(key);
  }

  /** Every claimed key (tests, diagnostics). */
  keys(): string[] {
    return [...this.claims.keys()].sort();
  }
}
