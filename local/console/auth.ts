import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Who is calling the local API, and how the console's browser session
 * proves it. Access is the API's own: the console is only static assets,
 * and every figure it shows comes from the API routes, authorised per
 * request exactly as a program's call (docs/console.md).
 *
 * - No tokens configured (loopback only): every caller is the local user.
 * - `requireToken`: one token, the local user.
 * - `users`: one token per user; the token names the caller.
 *
 * A browser cannot send a bearer header on navigation, so `/console?token=`
 * is exchanged once for an HttpOnly, SameSite=Strict cookie holding an HMAC
 * of the token under a key that lives only in this process (a leaked cookie
 * dies with the server and never reveals the token); the redirect drops the
 * token from the address bar and history. Writes authenticated by the
 * cookie must carry `x-recc-console: 1`, which a cross-site form cannot send.
 */
export interface Caller<I> {
  identity: I;
  via: 'open' | 'bearer' | 'cookie';
}

export const CONSOLE_COOKIE = 'recc_console';
export const CONSOLE_HEADER = 'x-recc-console';

export class TokenDirectory<I> {
  private readonly byDigest = new Map<string, I>();
  private readonly bySession = new Map<string, I>();
  private readonly key = randomBytes(32);

  constructor(entries: ReadonlyArray<{ token: string; identity: I }>) {
    for (const { token, identity } of entries) {
      this.byDigest.set(digest(token), identity);
      this.bySession.set(this.session(token), identity);
    }
  }

  get empty(): boolean {
    return this.byDigest.size === 0;
  }

  session(token: string): string {
    return createHmac('sha256', this.key).update(token).digest('hex');
  }

  /** The identity a token names; constant-time against each known digest. */
  lookupToken(token: string): I | undefined {
    const d = Buffer.from(digest(token), 'hex');
    let found: I | undefined;
    for (const [k, v] of this.byDigest) if (timingSafeEqual(Buffer.from(k, 'hex'), d)) found = v;
    return found;
  }

  lookupSession(value: string): I | undefined {
    if (!/^[0-9a-f]{64}$/.test(value)) return undefined;
    const d = Buffer.from(value, 'hex');
    let found: I | undefined;
    for (const [k, v] of this.bySession) if (timingSafeEqual(Buffer.from(k, 'hex'), d)) found = v;
    return found;
  }

  /** From `Authorization: Bearer`, else the console cookie; undefined when neither is valid. */
  authenticate(req: IncomingMessage): Caller<I> | undefined {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer) {
      const identity = this.lookupToken(bearer);
      return identity === undefined ? undefined : { identity, via: 'bearer' };
    }
    const cookie = cookieValue(req.headers.cookie, CONSOLE_COOKIE);
    const identity = cookie === null ? undefined : this.lookupSession(cookie);
    return identity === undefined ? undefined : { identity, via: 'cookie' };
  }
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
