/**
 * Deterministic ids for jobs and runs. A job is named per owner, so its id
 * derives from (owner, name); a run is one fire of a job, so its id derives
 * from (job id, scheduled time, attempt): a retried or duplicated trigger for
 * the same fire time computes the same run id, and the store's conditional
 * create lets exactly one of them start the run.
 */

/** 64-bit FNV-1a of the UTF-8 bytes, as 13 base-36 characters. Not a security hash: only an id. */
export function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= BigInt(byte);
    h = (h * prime) & 0xffffffffffffffffn;
  }
  return h.toString(36).padStart(13, '0');
}

/** `j-<hash of owner and name>`: DNS-label safe, the same for the same (owner, name). */
export function jobIdFor(owner: string, name: string): string {
  // Length-prefixed, so no (owner, name) pair can spell another's input.
  return `j-${fnv1a64(`${owner.length}:${owner}:${name}`)}`;
}

/** `20261204t183000000z` for 2026-12-04T18:30:00.000Z. */
export function compactTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, '').toLowerCase();
}

/** `r-<job hash>-<scheduled time>[-a<attempt>]`: one id per (job, fire time, attempt). */
export function runIdFor(jobId: string, scheduledAtMs: number, attempt = 1): string {
  if (!Number.isFinite(scheduledAtMs)) throw new RangeError(`runIdFor: scheduled time ${scheduledAtMs} is not a time`);
  const base = `r-${jobId.replace(/^j-/, '')}-${compactTime(scheduledAtMs)}`;
  return attempt > 1 ? `${base}-a${attempt}` : base;
}
