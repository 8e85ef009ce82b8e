import { mkdirSync, rmSync } from 'node:fs';
import { open, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { framedLength, writeFrames } from '../shared/shuffle/frames.ts';
import { ShuffleIncompleteError, SpillError } from './errors.ts';

/** Shards of one output partition: in memory, and on disk once the buffer is full. */
interface PartShards {
  mem: Map<number, Buffer>;
  /** Inputs whose shard is in the spill file. */
  disk: Set<number>;
  /** Appends to the spill file, in order. */
  writing: Promise<void>;
}

/** What one worker received for one run of one shuffle. */
interface RunShards {
  /** Inputs that pushed to this worker (each pushes once per receiver, even with no rows for it). */
  inputs: Set<number>;
  parts: Map<number, PartShards>;
}

/** Bytes of a spilled shard's header: input index, then length (u32 LE each). */
const HEADER = 8;

/**
 * The receiving side of a shuffle on one worker. Shards are kept per (shuffle,
 * run, output partition, input): a transfer that runs twice (its worker died
 * after sending) replaces nothing and adds nothing. Past `limitBytes` of
 * shards in memory, new shards are appended to one spill file per output
 * partition, so a shuffle larger than memory completes; the push is
 * acknowledged only once its shards are stored, which is the senders'
 * backpressure.
 */
export class ShardBuffer {
  private readonly runs = new Map<string, RunShards>();
  /** Runs below this were forgotten: late shards of theirs are refused. */
  private readonly liveFrom = new Map<string, number>();
  memBytes = 0;
  spilledBytes = 0;
  private dirReady = false;

  constructor(
    private readonly dir: string,
    readonly limitBytes: number,
    /** True while the process is short of memory: new shards then go to disk whatever the buffer holds. */
    private readonly underPressure: () => boolean = () => false,
  ) {}

  private runKey(id: string, run: number): string {
    return `${id}\0${run}`;
  }

  /** Store the shards of `input` for `parts`. Returns false for a forgotten run (the sender moves on). */
  async put(id: string, run: number, input: number, parts: readonly number[], shards: readonly Buffer[]): Promise<boolean> {
    if (run < (this.liveFrom.get(id) ?? 0)) return false;
    const rk = this.runKey(id, run);
    let r = this.runs.get(rk);
    if (!r) this.runs.set(rk, (r = { inputs: new Set(), parts: new Map() }));
    const writes: Array<Promise<void>> = [];
    for (let k = 0; k < parts.length; k++) {
      const j = parts[k] as number;
      const shard = shards[k] as Buffer;
      let p = r.parts.get(j);
      if (!p) r.parts.set(j, (p = { mem: new Map(), disk: new Set(), writing: Promise.resolve() }));
      if (p.mem.has(input) || p.disk.has(input)) continue;
      if (this.memBytes + shard.byteLength <= this.limitBytes && !this.underPressure()) {
        // A view into the received frame would pin the whole frame: keep a copy of exactly this shard.
        const own = shard.byteOffset === 0 && shard.byteLength === shard.buffer.byteLength ? shard : Buffer.from(shard);
        p.mem.set(input, own);
        this.memBytes += own.byteLength;
      } else {
        p.disk.add(input);
        this.spilledBytes += shard.byteLength;
        const part = p;
        const path = this.path(id, run, j);
        part.writing = part.writing.then(() => appendShard(this.ensureDir(path), input, shard));
        writes.push(part.writing);
      }
    }
    await Promise.all(writes);
    r.inputs.add(input);
    return true;
  }

  /**
   * All shards of output `part`, framed (shared/shuffle/frames.ts) behind a
   * msgpack bin32 header in shared memory, ordered by input: the value an
   * unpack task receives. Throws ShuffleIncompleteError when fewer than
   * `nInputs` inputs pushed here. The shards leave the buffer.
   */
  async take(id: string, run: number, part: number, nInputs: number): Promise<Buffer> {
    const r = this.runs.get(this.runKey(id, run));
    const got = r?.inputs.size ?? 0;
    if (got < nInputs) throw new ShuffleIncompleteError(`output ${part} of shuffle ${id} run ${run} has shards from ${got} of ${nInputs} inputs on this worker`);
    const p = r?.parts.get(part);
    const byInput = new Map<number, Uint8Array>();
    if (p) {
      for (const [i, b] of p.mem) byInput.set(i, b);
      if (p.disk.size > 0) {
        await p.writing;
        const path = this.path(id, run, part);
        let bytes: Buffer;
        try {
          bytes = await readFile(path);
        } catch (err) {
          throw new SpillError(`cannot read spilled shards of shuffle ${id} output ${part}`, { cause: err });
        }
        for (let at = 0; at + HEADER <= bytes.byteLength; ) {
          const input = bytes.readUInt32LE(at);
          const len = bytes.readUInt32LE(at + 4);
          byInput.set(input, bytes.subarray(at + HEADER, at + HEADER + len));
          at += HEADER + len;
        }
        await unlink(path).catch(() => undefined);
      }
      r?.parts.delete(part);
      for (const b of p.mem.values()) this.memBytes -= b.byteLength;
    }
    const shards = [...byInput.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b);
    // msgpack bin32 (as comm/payload encodeValue does for large bytes): the task decodes it without a copy.
    const n = framedLength(shards);
    const out = Buffer.from(new SharedArrayBuffer(5 + n));
    out[0] = 0xc6;
    out.writeUInt32BE(n, 1);
    writeFrames(shards, out, 5);
    return out;
  }

  /** Drop every run of shuffle `id` up to `run`; later shards of those runs are refused. */
  forget(id: string, run: number): void {
    if (run + 1 > (this.liveFrom.get(id) ?? 0)) this.liveFrom.set(id, run + 1);
    for (const [rk, r] of [...this.runs]) {
      const [rid, rrun] = rk.split('\0') as [string, string];
      if (rid !== id || Number(rrun) > run) continue;
      for (const [j, p] of r.parts) {
        for (const b of p.mem.values()) this.memBytes -= b.byteLength;
        if (p.disk.size > 0) void p.writing.then(() => unlink(this.path(id, Number(rrun), j))).catch(() => undefined);
      }
      this.runs.delete(rk);
    }
  }

  close(): void {
    this.runs.clear();
    this.memBytes = 0;
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {}
  }

  private path(id: string, run: number, part: number): string {
    return join(this.dir, `${id.replace(/[^\w.-]/g, '_')}-${run}-${part}.shards`);
  }

  private ensureDir(path: string): string {
    if (!this.dirReady) {
      mkdirSync(this.dir, { recursive: true });
      this.dirReady = true;
    }
    return path;
  }
}

async function appendShard(path: string, input: number, shard: Buffer): Promise<void> {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt32LE(input, 0);
  header.writeUInt32LE(shard.byteLength, 4);
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'a');
    await fh.writev([header, shard]);
  } catch (err) {
    throw new SpillError(`cannot spill shuffle shards to ${path}`, { cause: err });
  } finally {
    await fh?.close();
  }
}
