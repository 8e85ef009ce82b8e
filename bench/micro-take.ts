/**
 * Why kernels.ts gathers with one loop per typed-array class: the same
 * gather (out[k] = values[idx[k]]) over Float64/Int32/Uint8/Float32/Int16
 * arrays, through one shared function (megamorphic) and through one
 * `new Function` copy per class (monomorphic). ns per value gathered.
 *   node --import tsx bench/micro-take.ts
 */
type Arr = { length: number; [i: number]: number };
const n = 1_000_000;
const idx = new Int32Array(n);
for (let i = 0; i < n; i++) idx[i] = (i * 7919) % n;
const arrays: Arr[] = [new Float64Array(n), new Int32Array(n), new Uint8Array(n), new Float32Array(n), new Int16Array(n)];
function shared(out: Arr, values: Arr, ix: Int32Array, len: number): void {
  for (let k = 0; k < len; k++) out[k] = values[ix[k] as number] as number;
}
const copies = new Map<unknown, typeof shared>();
const perClass = (c: unknown): typeof shared => {
  let g = copies.get(c);
  if (!g) copies.set(c, (g = new Function('out', 'values', 'ix', 'len', 'for (let k = 0; k < len; k++) out[k] = values[ix[k]];') as typeof shared));
  return g;
};
for (const [name, pick] of [['shared', () => shared], ['per class', (a: Arr) => perClass(a.constructor)]] as const) {
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    for (let r = 0; r < 5; r++) for (const a of arrays) pick(a)(new (a.constructor as new (n: number) => Arr)(n), a, idx, n);
    process.stdout.write(`${name}: ${(((performance.now() - t0) / (5 * arrays.length * n)) * 1e6).toFixed(1)} ns/value\n`);
  }
}
