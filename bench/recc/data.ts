/**
 * The 'data' group of `npm run bench` (issue 14): a 1,000,000-row × 6-column
 * table (date, security id, 4 floats) written and read as Parquet and Arrow
 * IPC through a local Datastore, a projected read of 2 columns, a
 * fall-through read served from a local cache versus from S3 (fauxqs), and an
 * Arrow IPC handoff between two workers against raw bytes of the same size.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GroupContext } from './engine-measures.ts';
import { median } from '../lib/stats.ts';

const now = (): bigint => process.hrtime.bigint();
const secs = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;

/** The bench table, built column by column (Arrow `makeData`, no per-row objects). */
export async function benchTable(rows: number, seed = 1) {
  const { Table, makeData, makeVector, DateDay, Utf8 } = await import('apache-arrow');
  const days = new Int32Array(rows);
  const floats = [0, 1, 2, 3].map(() => new Float64Array(rows));
  const ids = Array.from({ length: 2000 }, (_, i) => Buffer.from(`SEC${String(i).padStart(6, '0')}`));
  const offsets = new Int32Array(rows + 1);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < rows; i++) {
    days[i] = 19723 + Math.floor((i * 250) / rows);
    for (const f of floats) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      f[i] = (x >>> 0) / 4294967296 * 100;
    }
    offsets[i + 1] = (offsets[i] as number) + (ids[i % 2000] as Buffer).length;
  }
  const bytes = new Uint8Array(offsets[rows] as number);
  for (let i = 0; i < rows; i++) bytes.set(ids[i % 2000] as Buffer, offsets[i] as number);
  return new Table({
    date: makeVector(makeData({ type: new DateDay(), length: rows, data: days })),
    sid: makeVector(makeData({ type: new Utf8(), length: rows, valueOffsets: offsets, data: bytes })),
    open: makeVector(floats[0] as Float64Array),
    high: makeVector(floats[1] as Float64Array),
    low: makeVector(floats[2] as Float64Array),
    close: makeVector(floats[3] as Float64Array),
  });
}

/**
 * Median wall time of `reps` runs, with the process's CPU time per run
 * (all its threads: the Parquet decode thread included), which a loaded
 * machine inflates far less than wall time.
 */
async function best<T>(reps: number, f: () => Promise<T>): Promise<{ s: number; value: T; samples: number[]; cpuMs: number[] }> {
  const samples: number[] = [];
  const cpuMs: number[] = [];
  let value: T | undefined;
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    const t0 = now();
    value = await f();
    samples.push(secs(t0));
    const c = process.cpuUsage(c0);
    cpuMs.push(Math.round((c.user + c.system) / 1000));
  }
  return { s: median(samples), value: value as T, samples: samples.map((s) => Math.round(s * 1000)), cpuMs };
}

export async function runData(ctx: GroupContext): Promise<void> {
  const rows = ctx.quick ? 200_000 : 1_000_000;
  const reps = ctx.quick ? 2 : 3;
  const tables = await import('../../adapters/tables/index.ts');
  const { LocalDatastore } = await import('../../adapters/datastores/local.ts');
  const { tableToIPC } = await import('apache-arrow');
  const table = await benchTable(rows);
  const dataMB = tableToIPC(table, 'stream').byteLength / 1e6;
  const dir = await mkdtemp(join(tmpdir(), 'recc-bench-data-'));
  try {
    const local = new LocalDatastore('FP_LOCAL', join(dir, 'fp'));
    for (const format of ['parquet', 'arrow'] as const) {
      const key = `bench/prices.${format}`;
      const w = await best(reps, () => tables.writeTable(local, key, table));
      ctx.emit(`data_${format}_write`, dataMB / w.s, 'MB/s', { rows, dataMB: round(dataMB), fileMB: round(w.value.size / 1e6), ms: w.samples });
      const r = await best(reps, () => tables.readTable(local, key));
      if (r.value.numRows !== rows) throw new Error(`data: read ${r.value.numRows} rows of ${rows}`);
      ctx.emit(`data_${format}_read`, dataMB / r.s, 'MB/s', { rows, rowsPerS: Math.round(rows / r.s), ms: r.samples, cpuMs: r.cpuMs });
      if (format === 'parquet') ctx.emit('data_parquet_read_rows', rows / r.s, 'rows/s', { ms: r.samples, cpuMs: r.cpuMs, rowsPerCpuS: Math.round(rows / (median(r.cpuMs) / 1000)) });
    }
    const p = await best(reps, () => tables.readTableInfo(local, 'bench/prices.parquet', { columns: ['date', 'close'] }));
    ctx.emit('data_parquet_projected_read', rows / p.s, 'rows/s', { columns: 2, fetchedMB: round(p.value.fetched.bytes / 1e6), ms: p.samples });

    await measureFallThrough(ctx, table, rows, reps);
    await measureHandoff(ctx, rows, reps);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** FP_LOCAL then S3: the first read is served by S3 (fauxqs) and copied to FP_LOCAL, the next by FP_LOCAL. */
async function measureFallThrough(ctx: GroupContext, table: import('apache-arrow').Table, rows: number, reps: number): Promise<void> {
  const { startTestS3 } = await import('../../test/support/s3.ts');
  const { S3Datastore } = await import('../../adapters/datastores/s3.ts');
  const { MemoryDatastore } = await import('../../adapters/datastores/memory.ts');
  const { FallThroughReader } = await import('../../shared/datastores/fallthrough.ts');
  const tables = await import('../../adapters/tables/index.ts');
  const s3 = await startTestS3();
  try {
    await s3.createBucket('recc-bench');
    const remote = new S3Datastore('S3', { bucket: 'recc-bench', prefix: 'bench/', endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials });
    await tables.writeTable(remote, 'prices.parquet', table);
    const fromS3: number[] = [];
    const fromLocal: number[] = [];
    let gets = 0;
    for (let i = 0; i < reps; i++) {
      const cache = new MemoryDatastore('FP_LOCAL');
      const reader = new FallThroughReader([cache, remote], { cache });
      s3.resetCounts();
      let t0 = now();
      const first = await reader.read('prices.parquet');
      const t1 = await tables.decodeTable(first.bytes, 'prices.parquet');
      fromS3.push(secs(t0));
      t0 = now();
      const second = await reader.read('prices.parquet');
      const t2 = await tables.decodeTable(second.bytes, 'prices.parquet');
      fromLocal.push(secs(t0));
      gets += s3.objectGets();
      if (first.from !== 'S3' || second.from !== 'FP_LOCAL' || t1.numRows !== rows || t2.numRows !== rows) throw new Error('data: fall-through read served from the wrong store');
    }
    ctx.emit('data_fallthrough_local', median(fromLocal) * 1000, 'ms', { rows, servedFrom: 'FP_LOCAL (memory cache)', ms: fromLocal.map((s) => Math.round(s * 1000)) });
    ctx.emit('data_fallthrough_s3', median(fromS3) * 1000, 'ms', { rows, servedFrom: 'S3 (fauxqs over loopback)', s3GetsPerRun: gets / reps, ms: fromS3.map((s) => Math.round(s * 1000)) });
  } finally {
    await s3.stop();
  }
}

/** A table made on worker A and consumed on worker B, against raw bytes of the same size over the same path. */
async function measureHandoff(ctx: GroupContext, rows: number, reps: number): Promise<void> {
  const { Client, LocalCluster } = await import('../../client/index.ts');
  const cluster = await LocalCluster.start({ nWorkers: 0 });
  try {
    await cluster.addWorker({ name: 'bench-a', resources: { A: 1 } });
    await cluster.addWorker({ name: 'bench-b', resources: { B: 1 } });
    const client = await Client.connect(cluster);
    try {
      // The same table as benchTable, built inside the task (inline tasks cannot call outer functions).
      const makeTable = async (rowCount: number, seed: number) => {
        const { Table, makeData, makeVector, DateDay, Utf8 } = await import('apache-arrow');
        const days = new Int32Array(rowCount);
        const floats = [0, 1, 2, 3].map(() => new Float64Array(rowCount));
        const ids = Array.from({ length: 2000 }, (_, i) => Buffer.from(`SEC${String(i).padStart(6, '0')}`));
        const offsets = new Int32Array(rowCount + 1);
        let x = seed >>> 0 || 1;
        for (let i = 0; i < rowCount; i++) {
          days[i] = 19723 + Math.floor((i * 250) / rowCount);
          for (const f of floats) {
            x ^= x << 13;
            x ^= x >>> 17;
            x ^= x << 5;
            f[i] = ((x >>> 0) / 4294967296) * 100;
          }
          offsets[i + 1] = (offsets[i] as number) + (ids[i % 2000] as Buffer).length;
        }
        const bytes = new Uint8Array(offsets[rowCount] as number);
        for (let i = 0; i < rowCount; i++) bytes.set(ids[i % 2000] as Buffer, offsets[i] as number);
        return new Table({
          date: makeVector(makeData({ type: new DateDay(), length: rowCount, data: days })),
          sid: makeVector(makeData({ type: new Utf8(), length: rowCount, valueOffsets: offsets, data: bytes })),
          open: makeVector(floats[0] as Float64Array),
          high: makeVector(floats[1] as Float64Array),
          low: makeVector(floats[2] as Float64Array),
          close: makeVector(floats[3] as Float64Array),
        });
      };
      const makeBytes = (n: number, salt: number): Uint8Array => {
        const b = new Uint8Array(n);
        for (let o = 0; o < n; o += 65536) crypto.getRandomValues(b.subarray(o, Math.min(n, o + 65536)));
        b[0] = salt & 255;
        return b;
      };
      const rowsOf = (t: { numRows: number }): number => t.numRows;
      const sizeOf = (b: Uint8Array): number => b.byteLength;
      const tableWalls: number[] = [];
      const rawWalls: number[] = [];
      let ipcBytes = 0;
      for (let rep = 0; rep <= reps; rep++) {
        const a = client.submitWith({ resources: { A: 1 }, pure: false }, makeTable, rows, rep + 1);
        await a.wait();
        let t0 = now();
        const n = await client.submitWith({ resources: { B: 1 }, pure: false }, rowsOf, a).result();
        const tw = secs(t0);
        if (n !== rows) throw new Error(`data: consumer saw ${String(n)} rows`);
        if (rep === 0) {
          // The client decodes with its own Arrow copy (under tsx, not the one this file imports); the codec writes either.
          const { tableToIpcBuffer } = await import('../../comm/table-codec.ts');
          ipcBytes = tableToIpcBuffer((await a.result()) as import('apache-arrow').Table).byteLength;
        }
        a.release();
        const b = client.submitWith({ resources: { A: 1 }, pure: false }, makeBytes, ipcBytes, rep);
        await b.wait();
        t0 = now();
        const m = await client.submitWith({ resources: { B: 1 }, pure: false }, sizeOf, b).result();
        const rw = secs(t0);
        if (m !== ipcBytes) throw new Error(`data: consumer saw ${String(m)} bytes`);
        b.release();
        if (rep > 0) {
          tableWalls.push(tw);
          rawWalls.push(rw);
        }
      }
      const tableMBs = ipcBytes / 1e6 / median(tableWalls);
      const rawMBs = ipcBytes / 1e6 / median(rawWalls);
      ctx.emit('data_ipc_handoff', tableMBs, 'MB/s', { rows, ipcMB: round(ipcBytes / 1e6), ms: tableWalls.map((s) => Math.round(s * 1000)) });
      ctx.emit('data_ipc_handoff_ratio', tableMBs / rawMBs, 'ratio', { rawMBs: Math.round(rawMBs), rawMs: rawWalls.map((s) => Math.round(s * 1000)) });
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
}
