import { createHmac } from 'node:crypto';

/**
 * Short-lived signed links to a cluster dashboard (`recc cluster dashboard`).
 * The link carries `?link=<expiry ms>.<HMAC-SHA256(cluster token, expiry)>`,
 * never the token: whoever has the token (the cluster's owner, through the
 * API) can make one, the scheduler checks it with the token it already has,
 * and a link copied from history or a log is worthless after it expires.
 */
export const DASHBOARD_LINK_MAX_TTL_MS = 15 * 60_000;
export const DASHBOARD_LINK_DEFAULT_TTL_MS = 2 * 60_000;

export function dashboardLinkSignature(token: string, expiresAtMs: number): string {
  return `${expiresAtMs}.${createHmac('sha256', token).update(`recc-dashboard-link-v1:${expiresAtMs}`).digest('hex')}`;
}

/** The link for a dashboard base URL (`http://host:port`). */
export function signedDashboardLink(baseUrl: string, token: string, expiresAtMs: number): string {
  const url = new URL('/', baseUrl);
  url.searchParams.set('link', dashboardLinkSignature(token, expiresAtMs));
  return url.toString();
}

/** True when `value` is a link signature for `token` that has not expired and does not claim more than the longest lifetime. */
export function verifyDashboardLink(value: string, token: string, nowMs: number): boolean {
  const m = /^(\d{1,16})\.([0-9a-f]{64})$/.exec(value);
  if (!m) return false;
  const expires = Number(m[1]);
  if (!(expires > nowMs && expires <= nowMs + DASHBOARD_LINK_MAX_TTL_MS)) return false;
  const want = dashboardLinkSignature(token, expires);
  // Same length hex strings: compare without an early exit.
  let diff = 0;
  for (let i = 0; i < want.length; i++) diff |= want.charCodeAt(i) ^ value.charCodeAt(i);
  return diff === 0 && want.length === value.length;
}
