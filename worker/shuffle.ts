import type { DataClient } from '../comm/data-client.ts';
import { receivePool } from '../comm/buffer-pool.ts';
import { decodeValue } from '../comm/payload.ts';
import type { WireShuffleAssignment } from '../comm/protocol.ts';
import type { Logger } from '../shared/core/logger.ts';
import { receiverOf } from '../shared/shuffle/types.ts';
import { unframe } from '../shared/shuffle/frames.ts';
import { ShuffleTransferError } from './errors.ts';
import { ShardBuffer } from './shuffle-buffer.ts';
import { retry, type BackoffPolicy } from '../shared/core/retry.ts';

/** A transfer's result: its shards framed in one byte array (shared/shuffle/frames.ts) or a list of byte arrays. */
function shardsOf(value: unknown): Uint8Array[] | undefined {
  if (value instanceof Uint8Array) {
    try {
      return unframe(value);
    } catch {
      return undefined;
    }
  }
  return Array.isArray(value) && value.every((s) => s instanceof Uint8Array) ? (value as Uint8Array[]) : undefined;
}

/** Between attempts to reach a transfer's receivers while the scheduler reacts to a lost one. */
const TRANSFER_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 50, maxMs: 2_000, factor: 2, jitter: 'equal' });
/** A transfer whose receivers stay unreachable this long fails. */
const TRANSFER_DEADLINE_MS = 60_000;

export interface ShuffleServiceOptions {
  /** This worker's data address (its id at the scheduler). */
  self: () => string;
  peers: DataClient;
  /** Directory for spilled shards. */
  dir: string;
  /** Shards kept in memory before new ones spill to disk. */
  bufferBytes: number;
  /** True while the process is short of memory (shards then spill at once). */
  underPressure?: () => boolean;
  logger: Logger;
}

/**
 * The worker side of the peer-to-peer shuffle. A transfer task computes its
 * shards in a task thread (the result is one shard per output partition);
 * here they go straight to the receiving workers over the data connections,
 * one push per receiver, and the task counts as finished only when every
 * receiver acknowledged (backpressure). Receivers buffer and spill
 * (shuffle-buffer.ts). An unpack task gets its output partition's shards as
 * one framed dependency value.
 *
 * The scheduler's latest assignment per task key wins: a transfer restarted
 * while its first run was still computing sends to the new run's receivers.
 */
export class ShuffleService {
  private readonly tasks = new Map<string, WireShuffleAssignment>();
  readonly buffer: ShardBuffer;

  constructor(private readonly o: ShuffleServiceOptions) {
    this.buffer = new ShardBuffer(o.dir, o.bufferBytes, o.underPressure);
  }

  assign(key: string, a: WireShuffleAssignment): void {
    this.tasks.set(key, a);
  }

  /** Some task of a shuffle is assigned here (the pump skips the lookups below per task otherwise). */
  get active(): boolean {
    return this.tasks.size > 0;
  }

  isTransfer(key: string): boolean {
    return this.tasks.get(key)?.role === 'transfer';
  }

  isUnpack(key: string): boolean {
    return this.tasks.get(key)?.role === 'unpack';
  }

  release(key: string): void {
    this.tasks.delete(key);
  }

  /**
   * Send a finished transfer's shards (its encoded result: one byte array per
   * output) to their receivers. A receiver that cannot be reached or that
   * forgot the run is retried (TRANSFER_BACKOFF) until the scheduler gives
   * this task a newer run, releases it, or TRANSFER_DEADLINE_MS passes: a
   * dead receiver makes the scheduler restart the shuffle, and this transfer
   * then belongs to the new run.
   */
  async transfer(key: string, result: Buffer): Promise<void> {
    const shards = shardsOf(decodeValue(result));
    if (!shards) throw new ShuffleTransferError(`transfer ${key} did not produce a list of shards`);
    const done = new Set<string>();
    await retry(
      async () => {
        const a = this.tasks.get(key);
        if (!a || a.role !== 'transfer') return; // released meanwhile: nobody needs it
        if (shards.length !== a.n) throw new ShuffleTransferError(`transfer ${key} produced ${shards.length} shards for ${a.n} outputs`, { permanent: true });
        const byReceiver = new Map<string, { parts: number[]; bufs: Buffer[] }>();
        for (const w of a.workers) if (!done.has(`${a.run}\0${w}`)) byReceiver.set(w, { parts: [], bufs: [] });
        for (let j = 0; j < shards.length; j++) {
          const s = shards[j] as Uint8Array;
          const r = byReceiver.get(receiverOf(a.workers, j));
          if (!r || s.byteLength === 0) continue;
          r.parts.push(j);
          r.bufs.push(Buffer.from(s.buffer, s.byteOffset, s.byteLength));
        }
        const outcomes = await Promise.all(
          [...byReceiver].map(async ([w, r]) => {
            const failure = await this.push(w, a, r.parts, r.bufs);
            if (failure === undefined) done.add(`${a.run}\0${w}`);
            return failure;
          }),
        );
        const failures = outcomes.filter((f) => f !== undefined);
        if (failures.length === 0) return;
        throw new ShuffleTransferError(`transfer ${key} (run ${a.run}): ${failures.join('; ')}`);
      },
      {
        ...TRANSFER_BACKOFF,
        deadlineMs: TRANSFER_DEADLINE_MS,
        retryIf: (err) => err instanceof ShuffleTransferError && !err.permanent,
        onRetry: (err) => this.o.logger.debug('shuffle transfer waits for its receivers', { event: 'worker.shuffle-retry', key, error: (err as Error).message }),
      },
    );
  }

  /** Push to one receiver; undefined once stored, else why not. */
  private async push(worker: string, a: WireShuffleAssignment, parts: number[], bufs: Buffer[]): Promise<string | undefined> {
    try {
      const refused = worker === this.o.self() ? await this.receive({ shuffle: a.id, run: a.run, input: a.i, parts }, bufs) : await this.o.peers.pushShards(worker, { shuffle: a.id, run: a.run, input: a.i, parts }, bufs);
      if (refused !== undefined) return `${worker} refused: ${refused}`;
      for (const b of bufs) this.pushedBytes += b.byteLength;
      return undefined;
    } catch (err) {
      return `cannot reach ${worker}: ${(err as Error).message}`;
    }
  }

  /** A peer's push (data port). Resolves with the refusal reason, or undefined once stored. */
  async receive(msg: { shuffle: string; run: number; input: number; parts: number[] }, bufs: Buffer[]): Promise<string | undefined> {
    const ok = await this.buffer.put(msg.shuffle, msg.run, msg.input, msg.parts, bufs);
    // The buffer copied or wrote out what it keeps: the received frame's memory may serve the next frame (left to
    // the garbage collector, it stayed resident until a collection, which shared memory does not prompt). Not after
    // a failed put: a spill write may still read it.
    for (const b of bufs) receivePool.release(b);
    return ok ? undefined : `run ${msg.run} of shuffle ${msg.shuffle} was forgotten`;
  }

  /** The framed shards of an unpack task's output partition (throws ShuffleIncompleteError). */
  shardsFor(key: string): Promise<Buffer> {
    const a = this.tasks.get(key);
    if (!a || a.role !== 'unpack') return Promise.reject(new ShuffleTransferError(`task ${key} is not a shuffle output`));
    return this.buffer.take(a.id, a.run, a.i, a.n);
  }

  /** Bytes of shards received for an unpack task's output partition so far. */
  pendingBytes(key: string): number {
    const a = this.tasks.get(key);
    return a && a.role === 'unpack' ? this.buffer.partBytes(a.id, a.run, a.i) : 0;
  }

  forget(id: string, run: number): void {
    this.buffer.forget(id, run);
  }

  /** Bytes of shards pushed to receivers (this worker included) so far: the dashboard's shuffle bandwidth. */
  pushedBytes = 0;

  stats(): { shuffleBufferBytes: number; shuffleSpilledBytes: number } {
    return { shuffleBufferBytes: this.buffer.memBytes, shuffleSpilledBytes: this.buffer.spilledBytes };
  }

  close(): void {
    this.tasks.clear();
    this.buffer.close();
  }
}
