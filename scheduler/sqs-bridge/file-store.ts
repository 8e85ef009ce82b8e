import { mkdirSync } from 'node:fs';
import { open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Packr, Unpackr } from 'msgpackr';
import { SubmissionStoreError } from './errors.ts';
import type { AppendOptions, LogSize, StoreRecord, SubmissionStore } from './store.ts';

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/**
 * The SubmissionStore in a directory (the cluster's state directory locally):
 * one append-only file of length-prefixed msgpack records. Appends that
 * arrive while a flush runs are written together by the next one, with one
 * fdatasync for all of them (group commit). A torn record at the end (a crash
 * mid-write) is ignored on load; compaction writes a new file, syncs it,
 * renames it over the old one and syncs the directory: a kill at any point
 * leaves the old log or the new one whole (a leftover `.compact` file is
 * never read and is overwritten by the next compaction).
 */
export class FileSubmissionStore implements SubmissionStore {
  private readonly path: string;
  private fh: FileHandle | undefined;
  private queue: Array<{ data: Buffer; records: number; sync: boolean; resolve: () => void; reject: (e: Error) => void }> = [];
  /** What the log file holds (records and bytes written to it). */
  private file: LogSize = { records: 0, bytes: 0 };
  private flushing: Promise<void> | undefined;
  /** A compaction under way: appends made meanwhile are written after it, to the new file. */
  private compacting: Promise<void> | undefined;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'sqs-submissions.log');
  }

  async load(): Promise<StoreRecord[]> {
    let data: Buffer;
    try {
      data = await readFile(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.file = { records: 0, bytes: 0 };
        return [];
      }
      throw new SubmissionStoreError(`cannot read ${this.path}`, { cause: err });
    }
    const out: StoreRecord[] = [];
    let at = 0;
    while (at + 4 <= data.length) {
      const n = data.readUInt32LE(at);
      if (at + 4 + n > data.length) break; // torn tail
      try {
        out.push(unpackr.unpack(data.subarray(at + 4, at + 4 + n)) as StoreRecord);
      } catch {
        break;
      }
      at += 4 + n;
    }
    this.file = { records: out.length, bytes: at };
    return out;
  }

  append(records: readonly StoreRecord[], options: AppendOptions = {}): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    const data = Buffer.concat(records.map(frame));
    return new Promise((resolve, reject) => {
      this.queue.push({ data, records: records.length, sync: options.sync ?? true, resolve, reject });
      if (!this.flushing && !this.compacting) this.flushing = this.flush();
    });
  }

  private async flush(): Promise<void> {
    try {
      // During a compaction appends wait for it (it flushes them when done): the old file is about to be replaced.
      while (this.queue.length > 0 && !this.compacting) {
        const batch = this.queue;
        this.queue = [];
        try {
          this.fh ??= await open(this.path, 'a');
          await this.fh.write(Buffer.concat(batch.map((b) => b.data)));
          for (const b of batch) {
            this.file.records += b.records;
            this.file.bytes += b.data.length;
          }
          for (const b of batch) if (!b.sync) b.resolve();
          await this.fh.datasync();
          for (const b of batch) if (b.sync) b.resolve();
        } catch (err) {
          const e = new SubmissionStoreError(`cannot record submissions in ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
          for (const b of batch) b.reject(e);
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }

  async compact(records: readonly StoreRecord[]): Promise<void> {
    while (this.compacting) await this.compacting.catch(() => undefined);
    const run = this.rewrite(records);
    this.compacting = run;
    try {
      await run;
    } finally {
      if (this.compacting === run) this.compacting = undefined;
      if (this.queue.length > 0 && !this.flushing && !this.compacting) this.flushing = this.flush();
    }
  }

  /** Write the kept records to a new file and rename it over the log (appends under way finish first, in the old one). */
  private async rewrite(records: readonly StoreRecord[]): Promise<void> {
    await this.flushing;
    const tmp = `${this.path}.compact`;
    try {
      const data = Buffer.concat(records.map(frame));
      const fh = await open(tmp, 'w');
      try {
        await fh.write(data);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await this.fh?.close();
      this.fh = undefined;
      await rename(tmp, this.path);
      this.file = { records: records.length, bytes: data.length };
      await syncDirectory(dirname(this.path));
    } catch (err) {
      await rm(tmp, { force: true });
      throw new SubmissionStoreError(`cannot compact ${this.path}`, { cause: err });
    }
  }

  size(): LogSize {
    let records = this.file.records;
    let bytes = this.file.bytes;
    for (const q of this.queue) {
      records += q.records;
      bytes += q.data.length;
    }
    return { records, bytes };
  }

  async close(): Promise<void> {
    await this.compacting?.catch(() => undefined);
    await this.flushing;
    await this.fh?.close();
    this.fh = undefined;
  }
}

/** Makes a rename durable (the directory entry), not only the file's bytes. */
async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function frame(record: StoreRecord): Buffer {
  const body = packr.pack(record);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32LE(body.length, 0);
  return Buffer.concat([head, body]);
}
