/**
 * Cost of the wire boundary check on the hot path: decoding a batched
 * `compute-batch` (scheduler → worker) and `finished` (worker → scheduler) of
 * N tasks with msgpack alone, then with the hand-written decoder
 * (comm/protocol) and with an equivalent zod 4 schema on top.
 *
 *   npx tsx bench/micro-protocol.ts [N]
 */
import { z } from 'zod';
import { newPackr, newUnpackr } from '../comm/comm.ts';
import { decodeSchedulerToWorker, decodeWorkerToScheduler } from '../comm/protocol.ts';

const N = Number(process.argv[2] ?? 1000);
const ROUNDS = 2000;

const computeBatch = {
  op: 'compute-batch',
  k: Array.from({ length: N }, (_, i) => `noop-${i.toString(16).padStart(32, '0')}`),
  f: 'fn-0123456789abcdef',
  a: Array.from({ length: N }, (_, i) => new Uint8Array([0x91, 0xcd, i & 0xff, (i >> 8) & 0xff])),
  d: 0,
  p: Array.from({ length: N }, (_, i) => i),
  s: 'update-graph-17',
};
const finished = {
  op: 'finished',
  k: computeBatch.k,
  n: Array.from({ length: N }, () => 3),
  ms: Array.from({ length: N }, () => 0.01),
  di: Array.from({ length: N }, (_, i) => i),
};

const dep = z.object({ key: z.string(), nbytes: z.number().int().nonnegative(), who: z.array(z.string()) });
const zodCompute = z.object({
  op: z.literal('compute-batch'),
  k: z.array(z.string()),
  f: z.union([z.string(), z.array(z.string())]),
  a: z.array(z.instanceof(Uint8Array)),
  d: z.union([z.literal(0), z.array(z.union([z.literal(0), z.array(dep)]))]),
  p: z.array(z.number()),
  s: z.union([z.string(), z.array(z.string())]),
});
const zodFinished = z.object({
  op: z.literal('finished'),
  k: z.array(z.string()),
  n: z.array(z.number().int().nonnegative()),
  ms: z.array(z.number()),
  di: z.array(z.number().int()),
});

/** Best of 7 runs of ROUNDS calls (the machine is shared: the minimum is the least disturbed), µs per call. */
function time(fn: () => void): number {
  for (let i = 0; i < ROUNDS / 4; i++) fn();
  let best = Infinity;
  for (let run = 0; run < 7; run++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ROUNDS; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e3 / ROUNDS);
  }
  return best;
}

for (const [name, msg, hand, zod] of [
  ['compute-batch', computeBatch, decodeSchedulerToWorker, zodCompute],
  ['finished', finished, decodeWorkerToScheduler, zodFinished],
] as const) {
  // As on a connection: one long-lived codec pair per direction (records defined once).
  const packr = newPackr();
  const unpackr = newUnpackr();
  const frames = Array.from({ length: 64 }, () => packr.pack([msg]));
  let i = 0;
  const decoded = unpackr.unpack(frames[0] as Buffer) as unknown[];
  const unpackUs = time(() => void unpackr.unpack(frames[i++ % frames.length] as Buffer));
  const handUs = time(() => void hand(decoded[0]));
  const zodUs = time(() => void zod.parse(decoded[0]));
  const pct = (us: number): string => `${(100 * us / unpackUs).toFixed(1)} %`;
  process.stdout.write(
    `${name} (${N} tasks): msgpack unpack ${unpackUs.toFixed(1)} µs; hand-written check ${handUs.toFixed(1)} µs (${pct(handUs)} of unpack); zod 4 ${zodUs.toFixed(1)} µs (${pct(zodUs)})\n`,
  );
}
