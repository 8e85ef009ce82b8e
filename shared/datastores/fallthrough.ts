import { DatastoreNotFoundError } from './errors.ts';
import type { Datastore } from './port.ts';

export interface ReadResult {
  key: string;
  bytes: Uint8Array;
  /** Name of the store that served the bytes. */
  from: string;
}

/**
 * Reads each key from the first store in `order` that has it ("loaded
 * prices/date=2024-01-02 from FP_LOCAL"). With `cache`, an object served by a
 * later store is copied into the cache store so the next read stays local.
 * Only "not found" falls through; any other error (access denied, throttled
 * after retries, corrupt) is raised, because skipping it would hide it.
 */
export class FallThroughReader {
  readonly report: Array<{ key: string; from: string }> = [];
  constructor(
    private readonly order: Datastore[],
    private readonly options: { cache?: Datastore; concurrency?: number } = {},
  ) {}

  async read(key: string): Promise<ReadResult> {
    for (const store of this.order) {
      let bytes: Uint8Array;
      try {
        bytes = await store.read(key);
      } catch (err) {
        if (err instanceof DatastoreNotFoundError) continue;
        throw err;
      }
      const cache = this.options.cache;
      if (cache && cache !== store) await cache.write(key, bytes);
      this.report.push({ key, from: store.name });
      return { key, bytes, from: store.name };
    }
    throw new DatastoreNotFoundError(this.order.map((s) => s.name).join(','), key);
  }

  /** Reads `keys` with at most `concurrency` (default 8) in flight; results in input order. */
  async readMany(keys: string[]): Promise<ReadResult[]> {
    const out: ReadResult[] = new Array(keys.length);
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const i = next++;
        out[i] = await this.read(keys[i] as string);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency ?? 8, keys.length) }, worker));
    return out;
  }
}
