/**
 * Evidence for bench/FINDINGS.md §8c: writing and reading the IPC streams of a
 * groupBy().apply shuffle's shards, Arrow JS's stream writer and reader
 * against client/tables/ipc-stream.ts. Per round, 400 pairs (a 12,500-row
 * value shard of 3 columns and its 100-row key table), the count one task
 * thread writes and reads for a 5M-row apply. Round 0 is cold (a fresh
 * process, as a worker's first apply); run each path in its own process:
 *   tsx bench/micro-ipc-stream.ts arrow|recc [rounds]
 */
import * as a from 'apache-arrow';
import { readStream, streamPieces } from '../client/tables/ipc-stream.ts';
import { joinPieces } from '../shared/shuffle/frames.ts';

const path = process.argv[2];
if (path !== 'arrow' && path !== 'recc') throw new Error('usage: micro-ipc-stream.ts arrow|recc [rounds]');
const rounds = Number(process.argv[3] ?? '5');
const n = 12_500;
const values = new a.Table({ date: a.makeVector(new Int32Array(n).fill(5)), price: a.makeVector(new Float64Array(n).fill(1.5)), qty: a.makeVector(new Int32Array(n).fill(3)) });
const keys = new a.Table({ security: a.vectorFromArray(Array.from({ length: 100 }, (_, i) => `SEC${String(i).padStart(5, '0')}`), new a.Utf8()) });
const arrowPieces = (t: a.Table): Uint8Array[] => [a.RecordBatchStreamWriter.writeAll(t).toUint8Array(true)];
const write = path === 'arrow' ? arrowPieces : streamPieces;
const read = path === 'arrow' ? (b: Uint8Array) => a.tableFromIPC(b) : readStream;
const valueBytes = joinPieces(write(values));
const keyBytes = joinPieces(write(keys));
let rows = 0;
for (let r = 0; r < rounds; r++) {
  let t0 = performance.now();
  for (let i = 0; i < 400; i++) rows += write(values.slice(i, n - i)).length + write(keys).length;
  const w = performance.now() - t0;
  t0 = performance.now();
  for (let i = 0; i < 400; i++) rows += read(valueBytes).numRows + read(keyBytes).numRows;
  process.stdout.write(`${path} round ${r}: write 400 pairs ${w.toFixed(1)} ms, read 400 pairs ${(performance.now() - t0).toFixed(1)} ms\n`);
}
if (rows < 0) process.stdout.write('');
