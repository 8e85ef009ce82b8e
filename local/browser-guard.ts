import type { IncomingMessage } from 'node:http';
import { CrossSiteRequestError } from './errors.ts';

/**
 * The local API answers any process on this machine, and so, through the
 * user's browser, any web page the user opens. Two browser tricks would let a
 * page act as the user without a token (open mode, the default of `recc up`):
 *
 * - a cross-site "simple" request (a form POST, or fetch with text/plain),
 *   which the browser sends without a CORS preflight, so POST /clusters would
 *   start a cluster even though the page cannot read the answer;
 * - DNS rebinding: a page on attacker.example whose name later resolves to
 *   127.0.0.1 makes same-origin requests, so Origin and Host agree, but Host
 *   names the attacker's domain.
 *
 * The SDK and the CLI send neither `Origin` nor `Sec-Fetch-Site`, and they
 * address the server by a loopback name, so the rules below never touch
 * them: a request is refused when its Host is not a loopback name while the
 * server listens on loopback, when the browser marks it cross-site, or when
 * its Origin is not the server itself. The console (same origin) passes.
 */
export function browserRequestProblem(req: IncomingMessage, listensOnLoopback: boolean): CrossSiteRequestError | undefined {
  const host = req.headers.host ?? '';
  if (listensOnLoopback && host && !isLoopbackHost(hostName(host))) {
    return new CrossSiteRequestError('host', `Host ${JSON.stringify(host.slice(0, 100))} is not a loopback name; address the local API as 127.0.0.1 or localhost`);
  }
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    return new CrossSiteRequestError('sec-fetch-site', `a ${site} browser request may not use the local API; open the console from the link recc up printed`);
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`) {
    return new CrossSiteRequestError('origin', `requests from ${JSON.stringify(origin.slice(0, 100))} may not use the local API`);
  }
  return undefined;
}

/** The name part of a Host header: `127.0.0.1:8080` → `127.0.0.1`, `[::1]:80` → `::1`. */
function hostName(host: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d+)?$/.exec(host);
  if (bracketed) return bracketed[1] as string;
  return host.replace(/:\d+$/, '');
}

/** True for the names and addresses of this machine's loopback interface. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
