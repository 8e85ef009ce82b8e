/** Injected id generator, so tests get predictable ids. */
export interface IdGenerator {
  /** A new unique id with the given prefix, e.g. `c-3f9a…`. Lowercase, DNS-label safe. */
  next(prefix: string): string;
}

/** Random ids: 12 base-36 chars from a CSPRNG (≈ 62 bits). Uses the global Web Crypto. */
export const randomIds: IdGenerator = {
  next(prefix: string): string {
    const bytes = new Uint8Array(12);
    globalThis.crypto.getRandomValues(bytes);
    let s = '';
    for (const b of bytes) s += (b % 36).toString(36);
    return `${prefix}-${s}`;
  },
};

/** Deterministic ids for tests: prefix-000001, prefix-000002, … */
export class SequentialIds implements IdGenerator {
  private n = 0;
  next(prefix: string): string {
    this.n += 1;
    return `${prefix}-${String(this.n).padStart(6, '0')}`;
  }
}
