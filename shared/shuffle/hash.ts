/**
 * Row hashing for hash shuffles: equal key values land in the same output
 * partition wherever they come from. Deterministic across processes (no
 * per-process seed), and equal for the forms one logical value takes in
 * Arrow JS: a safe-integer BigInt hashes like the same number, a Date like
 * its epoch milliseconds, -0 like 0 and every NaN alike.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

function mix(h: number, x: number): number {
  h ^= x & 0xff;
  h = Math.imul(h, FNV_PRIME);
  h ^= (x >>> 8) & 0xff;
  h = Math.imul(h, FNV_PRIME);
  h ^= (x >>> 16) & 0xff;
  h = Math.imul(h, FNV_PRIME);
  h ^= x >>> 24;
  return Math.imul(h, FNV_PRIME);
}

function hashNumber(h: number, v: number): number {
  if (Number.isNaN(v)) return mix(h, 0x7ff80000);
  f64[0] = v === 0 ? 0 : v;
  return mix(mix(h, u32[0] as number), u32[1] as number);
}

function hashString(h: number, s: string): number {
  h = mix(h, 0x5);
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return mix(h, s.length);
}

/** Fold one value into a running hash. */
export function hashValue(h: number, v: unknown): number {
  if (v === null || v === undefined) return mix(h, 0x9e3779b9);
  switch (typeof v) {
    case 'number':
      return hashNumber(h, v);
    case 'bigint':
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? hashNumber(h, Number(v)) : hashString(h, `n${v.toString()}`);
    case 'string':
      return hashString(h, v);
    case 'boolean':
      return mix(h, v ? 0x3 : 0x2);
    default:
      break;
  }
  if (v instanceof Date) return hashNumber(h, v.getTime());
  if (v instanceof Uint8Array) {
    h = mix(h, 0x7);
    for (let i = 0; i < v.length; i++) {
      h ^= v[i] as number;
      h = Math.imul(h, FNV_PRIME);
    }
    return mix(h, v.length);
  }
  // Nested values (lists, structs): their JSON form, stable for plain data.
  return hashString(h, JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? '');
}

/** Hash of a row's key values (in key order). */
export function hashKey(values: readonly unknown[]): number {
  let h = FNV_OFFSET;
  for (const v of values) h = hashValue(h, v);
  return h >>> 0;
}

/** The output partition of a key hash among `m`. */
export function hashPartition(hash: number, m: number): number {
  return (hash >>> 0) % m;
}
