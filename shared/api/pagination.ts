import { ValidationError } from '../core/errors.ts';

/**
 * `limit` + `nextToken` paging of list endpoints (issue 17 #11), newest first.
 * The token is an opaque cursor naming the last item returned (its creation
 * time and id): the next page starts strictly after it, so clusters created
 * meanwhile (newer, hence earlier in the order) never shift or repeat items.
 */
export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

export interface PageRequest {
  limit?: number;
  nextToken?: string;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `nextToken` for the next page; null on the last page. */
  nextToken: string | null;
}

interface Cursor {
  createdAt: string;
  id: string;
}

export function encodePageToken(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(['v1', cursor.createdAt, cursor.id]), 'utf8').toString('base64url');
}

export function decodePageToken(token: string): Cursor {
  const bad = () => new ValidationError('invalid nextToken', [{ path: 'nextToken', message: 'is not a token from a previous page of this list; start again without it' }]);
  if (!/^[A-Za-z0-9_-]{1,2048}$/.test(token)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || parsed[0] !== 'v1' || typeof parsed[1] !== 'string' || typeof parsed[2] !== 'string') throw bad();
  return { createdAt: parsed[1], id: parsed[2] };
}

/** Checks a `limit` (a whole number 1..MAX_PAGE_LIMIT); undefined means DEFAULT_PAGE_LIMIT. */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new ValidationError('invalid limit', [{ path: 'limit', message: `must be a whole number from 1 to ${MAX_PAGE_LIMIT}` }]);
  }
  return limit;
}

/** One page of `items`, which are sorted newest first (createdAt, then id, descending). */
export function pageNewestFirst<T extends Cursor>(items: readonly T[], request: PageRequest): Page<T> {
  const limit = pageLimit(request.limit);
  const after = request.nextToken === undefined ? undefined : decodePageToken(request.nextToken);
  const rest = after === undefined ? items : items.filter((x) => x.createdAt < after.createdAt || (x.createdAt === after.createdAt && x.id < after.id));
  const page = rest.slice(0, limit);
  const last = page.at(-1);
  return { items: [...page], nextToken: rest.length > limit && last ? encodePageToken(last) : null };
}

/**
 * One page of `items` in ascending order of a unique `key` (small lists held
 * in configuration, such as templates). The token is the last key returned, so
 * the same cursor format and checks serve every list.
 */
export function pageByKey<T>(items: readonly T[], key: (item: T) => string, request: PageRequest): Page<T> {
  const limit = pageLimit(request.limit);
  const after = request.nextToken === undefined ? undefined : decodePageToken(request.nextToken).id;
  const sorted = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter((x) => key(x) > after);
  const page = rest.slice(0, limit);
  const last = page.at(-1);
  return { items: page, nextToken: rest.length > limit && last !== undefined ? encodePageToken({ createdAt: '', id: key(last) }) : null };
}
