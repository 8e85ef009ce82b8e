import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorize } from './auth.ts';
import { CONTENT_SECURITY_POLICY, PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.ts';
import type { LiveFeed } from './stream.ts';

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const LIVE_PATHS = new Set(['/', '/dashboard.js', '/dashboard.css', '/api/live']);

/**
 * The live dashboard's routes; false for any other path. Every one requires
 * the cluster token (bearer, session cookie, or a `?token=` exchanged for
 * the cookie); a denied request gets 401 and no page.
 */
export function handleLiveRoute(req: IncomingMessage, res: ServerResponse, path: string, token: string, feed: LiveFeed): boolean {
  if (path === '/favicon.ico') {
    // Browsers ask for it on every page; a 404 there is a console error on an otherwise clean page (CI saw one).
    res.writeHead(204, SECURITY_HEADERS).end();
    return true;
  }
  if (!LIVE_PATHS.has(path)) return false;
  const decision = authorize(req, token);
  if (decision.kind === 'deny') {
    res
      .writeHead(401, { ...SECURITY_HEADERS, 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="recc-dashboard"' })
      .end(JSON.stringify({ error: { type: 'UnauthorizedError', message: 'the dashboard needs the cluster token: open the link from `recc cluster get` or send Authorization: Bearer <token>' } }));
    return true;
  }
  if (decision.kind === 'exchange') {
    res.writeHead(303, { ...SECURITY_HEADERS, location: decision.location, 'set-cookie': decision.cookie }).end();
    return true;
  }
  if (path === '/api/live') {
    if (!feed.attach(res)) res.writeHead(503, { ...SECURITY_HEADERS, 'content-type': 'application/json' }).end(JSON.stringify({ error: { type: 'BusyError', message: 'too many dashboard viewers' } }));
    return true;
  }
  const [type, body] =
    path === '/dashboard.js' ? ['text/javascript; charset=utf-8', PAGE_JS] : path === '/dashboard.css' ? ['text/css; charset=utf-8', PAGE_CSS] : ['text/html; charset=utf-8', PAGE_HTML];
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type }).end(body);
  return true;
}
