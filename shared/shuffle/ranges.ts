/**
 * Range partitioning for setIndex: a total order over index values, divisions
 * from a sample pass (approximate quantiles), and the output partition of a
 * value. Divisions follow Dask: `divisions[0]` is the smallest value,
 * `divisions[n]` the largest, and partition j holds
 * `divisions[j] <= v < divisions[j + 1]` (the last one includes its upper end).
 * Nulls sort first and go to partition 0.
 */

function rank(v: unknown): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'boolean') return 1;
  if (typeof v === 'number' || typeof v === 'bigint' || v instanceof Date) return 2;
  if (typeof v === 'string') return 3;
  return 4;
}

function numeric(v: unknown): number | bigint {
  if (v instanceof Date) return v.getTime();
  return v as number | bigint;
}

/** Total order: null < booleans < numbers (NaN last among them) < strings < anything else (by JSON). */
export function compareValues(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return Number(a) - Number(b);
    case 2: {
      const x = numeric(a);
      const y = numeric(b);
      if (typeof x === 'number' && Number.isNaN(x)) return typeof y === 'number' && Number.isNaN(y) ? 0 : 1;
      if (typeof y === 'number' && Number.isNaN(y)) return -1;
      // Mixed number/bigint compare exactly with < and >.
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case 3:
      return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    default: {
      const x = JSON.stringify(a) ?? '';
      const y = JSON.stringify(b) ?? '';
      return x < y ? -1 : x > y ? 1 : 0;
    }
  }
}

/**
 * Divisions for `npartitions` from per-partition samples (any order):
 * approximate quantiles of the pooled sample, deduplicated (a skewed key
 * yields fewer partitions rather than empty ones between equal bounds).
 * Returns [] when there is no non-null value.
 */
export function divisionsFromSamples(samples: ReadonlyArray<readonly unknown[]>, npartitions: number): unknown[] {
  if (!Number.isInteger(npartitions) || npartitions < 1) throw new RangeError(`npartitions must be a positive integer, got ${npartitions}`);
  const pooled = samples.flat().filter((v) => v !== null && v !== undefined);
  if (pooled.length === 0) return [];
  pooled.sort(compareValues);
  const out: unknown[] = [];
  for (let q = 0; q <= npartitions; q++) {
    const idx = Math.min(pooled.length - 1, Math.round((q * (pooled.length - 1)) / npartitions));
    const v = pooled[idx];
    if (out.length === 0 || compareValues(out[out.length - 1], v) < 0) out.push(v);
  }
  if (out.length === 1) out.push(out[0]);
  return out;
}

/** Check user-given divisions: at least two, sorted ascending, no nulls. Returns the problem, or undefined. */
export function divisionsProblem(divisions: readonly unknown[]): string | undefined {
  if (divisions.length < 2) return `expected at least 2 divisions (n partitions need n + 1), got ${divisions.length}`;
  for (let i = 0; i < divisions.length; i++) {
    if (divisions[i] === null || divisions[i] === undefined) return `divisions[${i}] is ${String(divisions[i])}`;
    if (i > 0 && compareValues(divisions[i - 1], divisions[i]) > 0) return `divisions must be sorted ascending: divisions[${i - 1}] > divisions[${i}]`;
  }
  return undefined;
}

/** The output partition of `v` among `divisions.length - 1` (values outside the range clamp to the ends). */
export function rangePartition(v: unknown, divisions: readonly unknown[]): number {
  const n = divisions.length - 1;
  if (n <= 1 || v === null || v === undefined) return 0;
  // Upper bound among the inner cut points divisions[1..n-1].
  let lo = 1;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareValues(divisions[mid], v) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** An evenly spaced sample of at most `k` items (deterministic: the same partition gives the same sample). */
export function evenSample<T>(values: readonly T[], k: number): T[] {
  if (values.length <= k) return [...values];
  const out: T[] = [];
  for (let i = 0; i < k; i++) out.push(values[Math.floor(((i + 0.5) * values.length) / k)] as T);
  return out;
}
