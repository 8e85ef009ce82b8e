import type { IncomingMessage, ServerResponse } from 'node:http';
import { CONSOLE_COOKIE, type TokenDirectory } from './auth.ts';
import { CONSOLE_CSS_EXTRA, CONSOLE_JS } from './assets.gen.ts';
import { CONSOLE_CSP, CONSOLE_CSS, CONSOLE_HTML } from './page.ts';

const ASSETS: Record<string, [string, string]> = {
  '/console': ['text/html; charset=utf-8', CONSOLE_HTML],
  '/console.js': ['text/javascript; charset=utf-8', CONSOLE_JS],
  // uPlot's stylesheet, served by recc too (no CDN).
  '/console.css': ['text/css; charset=utf-8', CONSOLE_CSS + CONSOLE_CSS_EXTRA],
};

const SECURITY_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export function isConsolePath(path: string): boolean {
  return Object.hasOwn(ASSETS, path);
}

/** Serves an asset to an authenticated caller (the caller was checked before). */
export function serveConsole(res: ServerResponse, path: string, method: string): void {
  const asset = ASSETS[path] as [string, string];
  if (method !== 'GET' && method !== 'HEAD') {
    res.writeHead(405, { ...SECURITY_HEADERS, 'content-type': 'application/json', allow: 'GET' }).end(JSON.stringify({ error: { type: 'MethodNotAllowedError', message: `${method} is not allowed on ${path}`, details: [] } }));
    return;
  }
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset[0], 'content-length': String(Buffer.byteLength(asset[1])) }).end(method === 'HEAD' ? undefined : asset[1]);
}

/**
 * `GET /console?token=T` with a valid token: set the session cookie and
 * redirect to /console (the token leaves the address bar and history). True
 * when it answered.
 */
export function exchangeConsoleToken<I>(req: IncomingMessage, res: ServerResponse, url: URL, tokens: TokenDirectory<I>): boolean {
  const token = url.searchParams.get('token');
  if (req.method !== 'GET' || url.pathname !== '/console' || token === null || tokens.lookupToken(token) === undefined) return false;
  res.writeHead(303, { ...SECURITY_HEADERS, location: '/console', 'set-cookie': `${CONSOLE_COOKIE}=${tokens.session(token)}; HttpOnly; SameSite=Strict; Path=/` }).end();
  return true;
}
