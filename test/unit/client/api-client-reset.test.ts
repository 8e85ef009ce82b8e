import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../../../client/api-client.ts';
import { ApiUnreachableError } from '../../../client/errors.ts';

/** A server that resets the connection of the first `resets` requests, then answers `{"ok": true}`. */
async function resettingServer(resets: number) {
  let seen = 0;
  const server = createServer((req, res) => {
    seen++;
    if (seen <= resets) {
      req.socket.destroy();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen: () => seen, close: () => new Promise((r) => server.close(r)) };
}

describe('ApiClient: a reset connection', () => {
  it('sends a GET again (a kept-alive socket closed under it), but never a POST', async () => {
    const s = await resettingServer(1);
    try {
      expect(await new ApiClient({ apiUrl: s.url, signing: 'none' }).request('GET', '/clusters')).toEqual({ ok: true });
      expect(s.seen()).toBe(2);
    } finally {
      await s.close();
    }
    const p = await resettingServer(1);
    try {
      await expect(new ApiClient({ apiUrl: p.url, signing: 'none' }).request('POST', '/clusters', {})).rejects.toBeInstanceOf(ApiUnreachableError);
      expect(p.seen()).toBe(1);
    } finally {
      await p.close();
    }
  });
});
