import type { Delayed } from './delayed.ts';
import { NoClientError } from './errors.ts';

/** What `delayed(...).compute()` needs of a client (kept apart so delayed.ts does not import client.ts). */
export interface DefaultClient {
  get<T>(value: Delayed<T>): Promise<T>;
}

/** Open clients, oldest first (a Set keeps insertion order). */
const open = new Set<DefaultClient>();

/** @internal — Client.connect registers each new client; close or a lost scheduler unregisters it. */
export function registerClient(client: DefaultClient): void {
  open.delete(client);
  open.add(client);
}

/** @internal */
export function unregisterClient(client: DefaultClient): void {
  open.delete(client);
}

/**
 * The default client, as Dask's `get_client()`: the most recently connected
 * client that is still open. Throws NoClientError when there is none.
 */
export function defaultClient(): DefaultClient {
  let last: DefaultClient | undefined;
  for (const c of open) last = c;
  if (!last) throw new NoClientError();
  return last;
}
