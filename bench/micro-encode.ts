/**
 * Evidence for bench/FINDINGS.md §8c: coding the string key of a 250k-row
 * trades partition (2,000 securities, 8-byte ids), KeyDict.encode and the
 * whole hashRuns of a groupBy().apply split, ns per row, best and median of
 * 15 rounds over 4 partitions. Workers cap inlining (worker/v8-tuning.ts), so
 * run it under their flag too:
 *   tsx bench/micro-encode.ts
 *   node --max-inlined-bytecode-size-cumulative=300 --import tsx bench/micro-encode.ts
 */
import * as arrow from 'apache-arrow';
import { generateTrades, seeds } from '../examples/dataframe.ts';
import { hashRuns, KeyDict } from '../client/tables/keys.ts';

const s = seeds({ rows: 5_000_000, securities: 2000, days: 504, partitions: 20 });
const parts = Array.from({ length: 4 }, (_, i) => generateTrades(s.slice(i, i + 1), { arrow, partition: i }));
const n = (parts[0] as arrow.Table).numRows;
let sink = 0;
function time(label: string, fn: (t: arrow.Table) => number): void {
  for (let r = 0; r < 5; r++) for (const p of parts) sink += fn(p);
  const all: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t0 = performance.now();
    for (const p of parts) sink += fn(p);
    all.push(performance.now() - t0);
  }
  all.sort((x, y) => x - y);
  const ns = (ms: number) => ((ms * 1e6) / (parts.length * n)).toFixed(1);
  process.stdout.write(`${label.padEnd(28)} ${ns(all[0] as number)} best, ${ns(all[7] as number)} median ns/row\n`);
}
time('KeyDict.encode', (t) => new KeyDict(1).encode(t, ['security']).length);
time('hashRuns (20 outputs)', (t) => hashRuns(t, ['security'], 20).pos.length);
if (sink < 0) process.stdout.write('');
