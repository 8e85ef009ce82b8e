import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';

/**
 * fauxqs's S3 on 127.0.0.1 behind a small HTTP proxy that counts requests by
 * method and can answer the next N requests with 503 SlowDown, so tests can
 * show throttling retries and count S3 GETs "at the emulator".
 */
export interface TestS3 {
  /** The proxy's endpoint; point clients here. */
  endpoint: string;
  /** fauxqs itself, bypassing the proxy. */
  directEndpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
  client: S3Client;
  createBucket(name: string): Promise<void>;
  /** Requests seen by the proxy, e.g. `counts.GET`. */
  counts: Record<string, number>;
  /** Object GETs (with a key) seen by the proxy. */
  objectGets(): number;
  resetCounts(): void;
  /** The next `n` requests (optionally only of `method`) get 503 SlowDown. */
  throttleNext(n: number, method?: string): void;
  /** Body bytes the proxy sent back for object GETs (what ranged reads save). */
  getBytes(): number;
  /** Every request to this bucket gets 403 AccessDenied, as a bucket without permission does (undefined: none). */
  forbidBucket(bucket: string | undefined): void;
  stop(): Promise<void>;
}

export async function startTestS3(): Promise<TestS3> {
  const app = buildApp({ logger: false, host: '127.0.0.1', defaultRegion: 'us-east-1' });
  const directEndpoint = await app.listen({ port: 0, host: '127.0.0.1' });
  const target = new URL(directEndpoint);
  const counts: Record<string, number> = {};
  let objectGets = 0;
  let throttle = { n: 0, method: undefined as string | undefined };
  let getBytes = 0;
  let forbidden: string | undefined;

  const proxy: Server = createServer((req: IncomingMessage, res) => {
    const method = req.method ?? 'GET';
    counts[method] = (counts[method] ?? 0) + 1;
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    // Path-style: /bucket/key...; a GET with a key is an object read (a bucket GET is a listing).
    const isObjectGet = method === 'GET' && path.split('/').filter(Boolean).length >= 2;
    if (isObjectGet) objectGets++;
    if (forbidden && path.split('/')[1] === forbidden) {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(method === 'HEAD' ? undefined : '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
      return;
    }
    if (throttle.n > 0 && (!throttle.method || throttle.method === method)) {
      throttle.n--;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    const up = request(
      { host: target.hostname, port: target.port, method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (isObjectGet) upRes.on('data', (c: Buffer) => (getBytes += c.length));
        upRes.pipe(res);
      },
    );
    up.on('error', () => { res.destroy(); });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const credentials = { accessKeyId: 'recc-test', secretAccessKey: 'recc-test' };
  const region = 'us-east-1';
  const client = new S3Client({ region, endpoint: directEndpoint, forcePathStyle: true, credentials });
  return {
    endpoint,
    directEndpoint,
    credentials,
    region,
    client,
    counts,
    objectGets: () => objectGets,
    resetCounts: () => {
      for (const k of Object.keys(counts)) delete counts[k];
      objectGets = 0;
      getBytes = 0;
    },
    getBytes: () => getBytes,
    forbidBucket: (bucket) => {
      forbidden = bucket;
    },
    throttleNext: (n, method) => {
      throttle = { n, method };
    },
    createBucket: async (name) => {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    stop: async () => {
      client.destroy();
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await app.close();
    },
  };
}
