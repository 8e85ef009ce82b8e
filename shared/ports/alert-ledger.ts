/**
 * Dedupe state for cost alerts: each alert key (period, scope, key, measure,
 * threshold, channel) is claimed once. Adapters: in-memory
 * (`adapters/store/alert-ledger-memory.ts`) and DynamoDB with a conditional
 * put (`adapters/store/alert-ledger-dynamodb.ts`). Contract:
 * `test/conformance/alert-ledger.ts`.
 */
export interface AlertClaim {
  /** ISO time of the claim. */
  at: string;
  /** ISO time after which the marker may be forgotten (the period is over). */
  expiresAt: string;
  /** Short log-safe note, e.g. the message subject. */
  note?: string;
}

export interface AlertLedger {
  /**
   * Atomically claim `key`. True for exactly one caller per key, however many
   * claim it concurrently; false when it was already claimed.
   */
  claim(key: string, claim: AlertClaim): Promise<boolean>;
  /** Give a claim back (sending failed), so a later run retries. Missing keys are fine. */
  release(key: string): Promise<void>;
  /** True when `key` is claimed. */
  has(key: string): Promise<boolean>;
}
