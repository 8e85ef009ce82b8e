import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { receivePool } from '../comm/buffer-pool.ts';
import { SpillError } from './errors.ts';

/** Fractions of the memory limit (Dask's model: 60/70/80/95). */
export interface MemoryThresholds {
  /** Managed (stored) bytes above this fraction spill to disk, least recently used first. */
  target: number;
  /** Process RSS above this fraction spills too. */
  spill: number;
  /** Process RSS above this fraction pauses new tasks. */
  pause: number;
  /** Process RSS above this fraction ends the worker; its supervisor restarts it (worker/memory.ts). */
  terminate: number;
}

export const DEFAULT_THRESHOLDS: MemoryThresholds = { target: 0.6, spill: 0.7, pause: 0.8, terminate: 0.95 };

/**
 * Results held by a worker, as encoded bytes. Memory is an LRU map; beyond
 * the limit's target fraction the oldest entries are written to the spill
 * directory and read back on demand (without re-entering memory).
 */
export class DataStore {
  private readonly mem = new Map<string, Buffer>();
  private readonly disk = new Map<string, number>();
  managedBytes = 0;
  spilledBytes = 0;
  spillCount = 0;
  private dirReady = false;

  constructor(
    private readonly dir: string,
    readonly limitBytes: number | undefined,
    readonly thresholds: MemoryThresholds = DEFAULT_THRESHOLDS,
  ) {}

  get size(): number {
    return this.mem.size + this.disk.size;
  }

  has(key: string): boolean {
    return this.mem.has(key) || this.disk.has(key);
  }

  nbytes(key: string): number {
    return this.mem.get(key)?.byteLength ?? this.disk.get(key) ?? 0;
  }

  put(key: string, data: Buffer): void {
    this.delete(key);
    this.mem.set(key, data);
    // Received into pooled memory: the pool reuses it once it leaves the store (comm/buffer-pool.ts).
    receivePool.store(data);
    this.managedBytes += data.byteLength;
    if (this.limitBytes !== undefined) this.spillTo(this.limitBytes * this.thresholds.target);
  }

  /** The bytes if they are in memory (and mark them recently used). */
  getInMemory(key: string): Buffer | undefined {
    const b = this.mem.get(key);
    if (b) {
      this.mem.delete(key);
      this.mem.set(key, b);
    }
    return b;
  }

  async get(key: string): Promise<Buffer | undefined> {
    const b = this.getInMemory(key);
    if (b) return b;
    if (!this.disk.has(key)) return undefined;
    try {
      return await readFile(this.path(key));
    } catch (err) {
      throw new SpillError(`cannot read spilled result ${key}`, { cause: err });
    }
  }

  getSync(key: string): Buffer | undefined {
    const b = this.getInMemory(key);
    if (b || !this.disk.has(key)) return b;
    try {
      return readFileSync(this.path(key));
    } catch (err) {
      throw new SpillError(`cannot read spilled result ${key}`, { cause: err });
    }
  }

  delete(key: string): void {
    const b = this.mem.get(key);
    if (b) {
      this.mem.delete(key);
      this.managedBytes -= b.byteLength;
      receivePool.unstore(b);
      return;
    }
    const n = this.disk.get(key);
    if (n !== undefined) {
      this.disk.delete(key);
      this.spilledBytes -= n;
      try {
        unlinkSync(this.path(key));
      } catch {}
    }
  }

  /** Spill least recently used entries until managed memory is at most `bytes`. Returns bytes spilled. */
  spillTo(bytes: number): number {
    let spilled = 0;
    // Idle receive memory goes first: it holds no result.
    if (this.managedBytes > bytes) receivePool.trim();
    while (this.managedBytes > bytes && this.mem.size > 0) {
      const [key, data] = this.mem.entries().next().value as [string, Buffer];
      if (!this.dirReady) {
        // Only this user may read what spills (the workspace is under a temp directory other users share).
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        this.dirReady = true;
      }
      try {
        writeFileSync(this.path(key), data, { mode: 0o600 });
      } catch (err) {
        throw new SpillError(`cannot spill ${key} to ${this.dir}`, { cause: err });
      }
      this.mem.delete(key);
      this.managedBytes -= data.byteLength;
      receivePool.unstore(data);
      this.disk.set(key, data.byteLength);
      this.spilledBytes += data.byteLength;
      this.spillCount++;
      spilled += data.byteLength;
    }
    return spilled;
  }

  close(): void {
    this.mem.clear();
    this.disk.clear();
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {}
  }

  private path(key: string): string {
    return join(this.dir, createHash('sha1').update(key).digest('hex'));
  }
}
