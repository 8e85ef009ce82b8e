const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * The name a cluster gets when none is given: what it was made from and when
 * (UTC), e.g. `small-dec04-1837` or `job-nightly-dec04-1837`, so a listing
 * reads as something other than the id twice.
 */
export function defaultClusterName(from: { template?: string; job?: string }, now: Date = new Date()): string {
  const base = from.job ? `job-${from.job}` : (from.template ?? 'cluster');
  const two = (n: number) => String(n).padStart(2, '0');
  const stamp = `${MONTHS[now.getUTCMonth()]}${two(now.getUTCDate())}-${two(now.getUTCHours())}${two(now.getUTCMinutes())}`;
  // Names are short text (100 chars); a long job or template name is cut, the stamp kept.
  return `${base.slice(0, 100 - stamp.length - 1)}-${stamp}`;
}
