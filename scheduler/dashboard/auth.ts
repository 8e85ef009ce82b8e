import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { verifyDashboardLink } from '../../shared/engine/dashboard-link.ts';

/** Name of the HttpOnly cookie that carries a dashboard session. */
export const SESSION_COOKIE = 'recc_dashboard';

export type AuthDecision =
  | { kind: 'allow' }
  | { kind: 'deny' }
  /** A valid `?token=`: set the cookie and redirect to the same path without the token, so it leaves the address bar and history. */
  | { kind: 'exchange'; location: string; cookie: string };

/**
 * The cookie holds an HMAC of the token, not the token: a leaked cookie opens
 * this dashboard only, never the scheduler's comm port.
 */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('recc-dashboard-session-v1').digest('hex');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

/**
 * Accepts `Authorization: Bearer <token>`, the session cookie, or a
 * short-lived signed `?link=` (shared/engine/dashboard-link.ts) or a
 * `?token=`, each exchanged for the cookie.
 */
export function authorize(req: IncomingMessage, token: string, now: () => number = Date.now): AuthDecision {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ') && same(auth.slice('Bearer '.length).trim(), token)) return { kind: 'allow' };
  const session = cookieValue(req.headers.cookie, SESSION_COOKIE);
  if (session !== null && same(session, sessionValue(token))) return { kind: 'allow' };
  const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
  const given = url.searchParams.get('token');
  const link = url.searchParams.get('link');
  if (req.method === 'GET' && ((given !== null && same(given, token)) || (link !== null && verifyDashboardLink(link, token, now())))) {
    url.searchParams.delete('token');
    url.searchParams.delete('link');
    const location = url.pathname + (url.searchParams.size > 0 ? `?${url.searchParams.toString()}` : '');
    return { kind: 'exchange', location, cookie: `${SESSION_COOKIE}=${sessionValue(token)}; HttpOnly; SameSite=Strict; Path=/` };
  }
  return { kind: 'deny' };
}

/**
 * Header carrying the cluster token on the status API (`/api/status`,
 * `/api/story/<key>`) where `Authorization` cannot be used: the Kubernetes
 * API server authenticates the control plane's service-proxy request with
 * `Authorization` and removes that header before proxying to the pod.
 */
export const TOKEN_HEADER = 'x-recc-token';

/**
 * The status API: `Authorization: Bearer <token>`, the `x-recc-token` header
 * or the dashboard session cookie. Never `?token=` (a token in a URL ends up
 * in proxy and audit logs); programs send a header.
 */
export function authorizeApi(req: IncomingMessage, token: string): boolean {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ') && same(auth.slice('Bearer '.length).trim(), token)) return true;
  const header = req.headers[TOKEN_HEADER];
  if (typeof header === 'string' && same(header.trim(), token)) return true;
  const session = cookieValue(req.headers.cookie, SESSION_COOKIE);
  return session !== null && same(session, sessionValue(token));
}
