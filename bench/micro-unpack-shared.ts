/**
 * msgpackr decodes strings natively (msgpackr-extract) only from ordinary
 * memory: from a Buffer over a SharedArrayBuffer (a frame received into the
 * receive pool, comm/buffer-pool.ts) the extraction fails and every string is
 * built in JavaScript. This unpacks one `finished` batch of N task keys from
 * each kind of memory (comm/comm.ts `unshared` copies headers out of the pool).
 *
 *   npx tsx bench/micro-unpack-shared.ts [N]
 *
 * 2026-12-07, 2-core VM: 71 ns per task from an ArrayBuffer, 269 from a
 * SharedArrayBuffer.
 */
import { isNativeAccelerationEnabled } from 'msgpackr';
import { newPackr, newUnpackr } from '../comm/comm.ts';

const N = Number(process.argv[2] ?? 1000);
const ROUNDS = 2000;
const keys = Array.from({ length: N }, (_, i) => `lambda-${i.toString(16).padStart(32, '0')}`);
const finished = { op: 'finished', k: keys, n: keys.map(() => 3), ms: keys.map(() => 0.01), th: keys.map(() => 0), di: keys.map((_, i) => i) };
const plain = newPackr().pack([finished]);
const shared = Buffer.from(new SharedArrayBuffer(plain.length));
plain.copy(shared);
console.log(`native string extraction loaded: ${isNativeAccelerationEnabled}`);
for (const [name, buf] of [
  ['ArrayBuffer', plain],
  ['SharedArrayBuffer', shared],
  ['SharedArrayBuffer, header copied out first', shared],
] as const) {
  // A fresh unpackr per kind: a sequential unpackr keeps the record definitions of its connection.
  const u = newUnpackr();
  const copy = name.endsWith('first');
  const once = () => u.unpack(copy ? Buffer.from(buf) : buf);
  for (let r = 0; r < 200; r++) once();
  const t0 = performance.now();
  for (let r = 0; r < ROUNDS; r++) once();
  console.log(`${name}: ${(((performance.now() - t0) * 1e6) / ROUNDS / N).toFixed(1)} ns per task`);
}
