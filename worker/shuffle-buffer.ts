import { mkdirSync, rmSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ShuffleIncompleteError, SpillError } from './errors.ts';

/** Shards of one output partition: in memory, and on disk once the buffer is full. */
interface PartShards {
  mem: Map<number, Buffer>;
  /** Inputs whose shard is in the run's spill file: [offset, length]. */
  disk: Map<number, [number, number]>;
}

/** What one worker received for one run of one shuffle. */
interface RunShards {
  /** Inputs that pushed to this worker (each pushes once per receiver, even with no rows for it). */
  inputs: Set<number>;
  parts: Map<number, PartShards>;
  /** The run's spill file: every spilled shard (Arrow IPC stream bytes) appended, in arrival order. */
  spill: SpillFile | undefined;
}

/** One append-only spill file: writes go in order, reads are positional. */
class SpillFile {
  private fh: Promise<FileHandle> | undefined;
  private tail: Promise<void> = Promise.resolve();
  /** Bytes written or queued (the offset of the next append). */
  size = 0;

  constructor(readonly path: string) {}

  private handle(): Promise<FileHandle> {
    this.fh ??= open(this.path, 'w+', 0o600).catch((err: unknown) => {
      throw new SpillError(`cannot create shuffle spill file ${this.path}`, { cause: err });
    });
    return this.fh;
  }

  /** Queue `bufs` for appending; resolves once written, with the offset of the first. */
  append(bufs: readonly Buffer[]): { offset: number; written: Promise<void> } {
    const offset = this.size;
    for (const b of bufs) this.size += b.byteLength;
    this.tail = this.tail.then(async () => {
      const fh = await this.handle();
      try {
        let at = offset;
        // writev may write less than asked: continue from where it stopped.
        const rest = [...bufs];
        while (rest.length > 0) {
          const { bytesWritten } = await fh.writev(rest, at);
          at += bytesWritten;
          let skip = bytesWritten;
          while (rest.length > 0 && skip >= (rest[0] as Buffer).byteLength) skip -= (rest.shift() as Buffer).byteLength;
          if (skip > 0 && rest.length > 0) rest[0] = (rest[0] as Buffer).subarray(skip);
        }
      } catch (err) {
        throw new SpillError(`cannot spill shuffle shards to ${this.path}`, { cause: err });
      }
    });
    const written = this.tail;
    // A failed write fails its own put; later appends still run.
    this.tail = this.tail.catch(() => undefined);
    return { offset, written };
  }

  /** Read `length` bytes at `offset` into `out` at `at`. */
  async readInto(offset: number, length: number, out: Uint8Array, at: number): Promise<void> {
    await this.tail;
    const fh = await this.handle();
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(out, at + done, length - done, offset + done);
      if (bytesRead === 0) throw new SpillError(`shuffle spill file ${this.path} is shorter than its index`);
      done += bytesRead;
    }
  }

  async remove(): Promise<void> {
    await this.tail;
    const fh = this.fh;
    this.fh = undefined;
    if (fh) await fh.then((h) => h.close()).catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }
}

/**
 * The receiving side of a shuffle on one worker. Shards are kept per (shuffle,
 * run, output partition, input): a transfer that runs twice (its worker died
 * after sending) replaces nothing and adds nothing. Past `limitBytes` of
 * shards in memory, or while the process is short of memory, shards go to
 * one spill file per run (the shards' Arrow IPC bytes appended, an index in
 * memory), and under pressure the shards already in memory follow them; so a
 * shuffle larger than memory completes. The push is acknowledged only once
 * its shards are stored, which is the senders' backpressure.
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
    if (!r) this.runs.set(rk, (r = { inputs: new Set(), parts: new Map(), spill: undefined }));
    const pressed = this.underPressure();
    const writes: Array<Promise<void>> = [];
    // Short of memory: what this buffer holds goes to disk first.
    if (pressed && this.memBytes > 0) writes.push(...this.evictAll());
    const toDisk: Array<[PartShards, Buffer]> = [];
    const toMem: Array<[PartShards, Buffer]> = [];
    let memTotal = 0;
    for (let k = 0; k < parts.length; k++) {
      const j = parts[k] as number;
      const shard = shards[k] as Buffer;
      let p = r.parts.get(j);
      if (!p) r.parts.set(j, (p = { mem: new Map(), disk: new Map() }));
      if (p.mem.has(input) || p.disk.has(input)) continue;
      if (!pressed && this.memBytes + memTotal + shard.byteLength <= this.limitBytes) {
        toMem.push([p, shard]);
        memTotal += shard.byteLength;
      } else {
        toDisk.push([p, shard]);
      }
    }
    if (toMem.length > 0) {
      // A view into the received frame would pin the whole frame (pooled receive memory): the kept shards are
      // copied into one block of their own (one allocation per push, not per shard).
      const block = Buffer.allocUnsafeSlow(memTotal);
      let at = 0;
      for (const [p, shard] of toMem) {
        block.set(shard, at);
        p.mem.set(input, block.subarray(at, at + shard.byteLength));
        at += shard.byteLength;
      }
      this.memBytes += memTotal;
    }
    if (toDisk.length > 0) writes.push(this.spill(id, run, r, input, toDisk));
    await Promise.all(writes);
    r.inputs.add(input);
    return true;
  }

  /** Append shards of one input to the run's spill file (one write) and index them. */
  private spill(id: string, run: number, r: RunShards, input: number, shards: ReadonlyArray<[PartShards, Buffer]>): Promise<void> {
    r.spill ??= new SpillFile(this.ensureDir(this.path(id, run)));
    const { offset, written } = r.spill.append(shards.map(([, b]) => b));
    let at = offset;
    for (const [p, b] of shards) {
      p.disk.set(input, [at, b.byteLength]);
      at += b.byteLength;
      this.spilledBytes += b.byteLength;
    }
    return written;
  }

  /** Move every shard held in memory to its run's spill file. */
  private evictAll(): Array<Promise<void>> {
    const writes: Array<Promise<void>> = [];
    for (const [rk, r] of this.runs) {
      const [id, run] = rk.split('\0') as [string, string];
      const byInput = new Map<number, Array<[PartShards, Buffer]>>();
      for (const p of r.parts.values()) {
        for (const [input, b] of p.mem) {
          let l = byInput.get(input);
          if (!l) byInput.set(input, (l = []));
          l.push([p, b]);
          this.memBytes -= b.byteLength;
        }
        p.mem.clear();
      }
      for (const [input, l] of byInput) writes.push(this.spill(id, Number(run), r, input, l));
    }
    return writes;
  }

  /** Bytes received so far for output `part` of a run. */
  partBytes(id: string, run: number, part: number): number {
    const p = this.runs.get(this.runKey(id, run))?.parts.get(part);
    if (!p) return 0;
    let n = 0;
    for (const b of p.mem.values()) n += b.byteLength;
    for (const [, len] of p.disk.values()) n += len;
    return n;
  }

  /**
   * All shards of output `part`, framed (shared/shuffle/frames.ts) behind a
   * msgpack bin32 header in shared memory, ordered by input: the value an
   * unpack task receives. Spilled shards are read straight into the frame.
   * Throws ShuffleIncompleteError when fewer than `nInputs` inputs pushed
   * here. The shards leave the buffer.
   */
  async take(id: string, run: number, part: number, nInputs: number): Promise<Buffer> {
    const r = this.runs.get(this.runKey(id, run));
    const got = r?.inputs.size ?? 0;
    if (got < nInputs) throw new ShuffleIncompleteError(`output ${part} of shuffle ${id} run ${run} has shards from ${got} of ${nInputs} inputs on this worker`);
    const p = r?.parts.get(part);
    const inputs = p ? [...new Set([...p.mem.keys(), ...p.disk.keys()])].sort((a, b) => a - b) : [];
    const lengths = inputs.map((i) => p?.mem.get(i)?.byteLength ?? (p?.disk.get(i) as [number, number])[1]);
    // msgpack bin32 (as comm/payload encodeValue does for large bytes): the task decodes it without a copy.
    const n = 4 + 4 * inputs.length + lengths.reduce((a, b) => a + b, 0);
    // The shards start 8-aligned in their memory (each is an IPC stream, a multiple of 8 bytes long), so Arrow
    // reads them in place: it copies every buffer of an unaligned one. With 240 inputs they started at 1 mod 8, and
    // each unpack copied its whole partition once more than needed (CPU, and a partition's worth of peak memory).
    const pad = (8 - ((9 + 4 * inputs.length) % 8)) % 8;
    const out = Buffer.from(new SharedArrayBuffer(pad + 5 + n), pad);
    out[0] = 0xc6;
    out.writeUInt32BE(n, 1);
    out.writeUInt32LE(inputs.length, 5);
    let at = 9 + 4 * inputs.length;
    const reads: Array<Promise<void>> = [];
    inputs.forEach((input, k) => {
      out.writeUInt32LE(lengths[k] as number, 9 + 4 * k);
      const mem = p?.mem.get(input);
      if (mem) out.set(mem, at);
      else {
        const [offset, len] = p?.disk.get(input) as [number, number];
        reads.push((r?.spill as SpillFile).readInto(offset, len, out, at));
      }
      at += lengths[k] as number;
    });
    try {
      await Promise.all(reads);
    } catch (err) {
      throw err instanceof SpillError ? err : new SpillError(`cannot read spilled shards of shuffle ${id} output ${part}`, { cause: err });
    }
    if (p) {
      for (const b of p.mem.values()) this.memBytes -= b.byteLength;
      r?.parts.delete(part);
    }
    return out;
  }

  /** Drop every run of shuffle `id` up to `run`; later shards of those runs are refused. */
  forget(id: string, run: number): void {
    if (run + 1 > (this.liveFrom.get(id) ?? 0)) this.liveFrom.set(id, run + 1);
    for (const [rk, r] of [...this.runs]) {
      const [rid, rrun] = rk.split('\0') as [string, string];
      if (rid !== id || Number(rrun) > run) continue;
      for (const p of r.parts.values()) for (const b of p.mem.values()) this.memBytes -= b.byteLength;
      void r.spill?.remove();
      this.runs.delete(rk);
    }
  }

  close(): void {
    for (const r of this.runs.values()) void r.spill?.remove();
    this.runs.clear();
    this.memBytes = 0;
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {}
  }

  private path(id: string, run: number): string {
    return join(this.dir, `${id.replace(/[^\w.-]/g, '_')}-${run}.arrows`);
  }

  private ensureDir(path: string): string {
    if (!this.dirReady) {
      // Only this user may read what spills (the workspace is under a temp directory other users share).
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.dirReady = true;
    }
    return path;
  }
}
