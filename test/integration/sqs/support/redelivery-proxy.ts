import { randomUUID } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of fauxqs's SQS (AWS JSON protocol) that makes
 * delivery as bad as SQS allows: every received message is delivered again
 * later (a copy with its own receipt handle), and some are held back for a
 * few seconds before their first delivery. Deletes and visibility changes
 * of the copies succeed without reaching fauxqs, as a real late duplicate's
 * would.
 */
export interface RedeliveryProxy {
  endpoint: string;
  stats: { duplicated: number; delayed: number; receives: number };
  stop(): Promise<void>;
}

interface SqsMessage {
  MessageId: string;
  ReceiptHandle: string;
  Body: string;
  [k: string]: unknown;
}

export async function startRedeliveryProxy(upstream: string, options: { delayEvery?: number; delayMs?: number } = {}): Promise<RedeliveryProxy> {
  const target = new URL(upstream);
  const stats = { duplicated: 0, delayed: 0, receives: 0 };
  /** Per queue URL: messages to deliver (again) once due. */
  const later = new Map<string, Array<{ due: number; msg: SqsMessage }>>();
  let seen = 0;
  const delayEvery = options.delayEvery ?? 5;
  const delayMs = options.delayMs ?? 2_000;

  const forward = (req: IncomingMessage, body: Buffer, onBody: (status: number, headers: IncomingMessage['headers'], body: Buffer) => void, onError: () => void) => {
    const headers = { ...req.headers, host: target.host, 'content-length': String(body.length) };
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => onBody(res.statusCode ?? 502, res.headers, Buffer.concat(chunks)));
      res.on('error', onError);
    });
    up.on('error', onError);
    up.end(body);
  };

  const reply = (res: ServerResponse, status: number, headers: IncomingMessage['headers'], body: Buffer) => {
    const h = { ...headers };
    delete h['content-length'];
    delete h['transfer-encoding'];
    res.writeHead(status, { ...h, 'content-length': String(body.length) });
    res.end(body);
  };

  const due = (queueUrl: string, now: number) => {
    const list = later.get(queueUrl) ?? [];
    const ready = list.filter((l) => l.due <= now);
    later.set(queueUrl, list.filter((l) => l.due > now));
    return ready.map((r) => r.msg);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const target = String(req.headers['x-amz-target'] ?? '');
      const fail = () => res.destroy();
      let input: Record<string, unknown> = {};
      try {
        input = raw.length > 0 ? (JSON.parse(raw.toString()) as Record<string, unknown>) : {};
      } catch {
        forward(req, raw, (s, h, b) => reply(res, s, h, b), fail);
        return;
      }
      const queueUrl = String(input.QueueUrl ?? '');
      if (target.endsWith('.ReceiveMessage')) {
        stats.receives++;
        const ready = due(queueUrl, Date.now());
        if (ready.length > 0) {
          reply(res, 200, { 'content-type': 'application/x-amz-json-1.0' }, Buffer.from(JSON.stringify({ Messages: ready })));
          return;
        }
        // With deliveries pending, poll upstream briefly so they are not stuck behind a 20 s long poll.
        const pending = (later.get(queueUrl) ?? []).length > 0;
        const body = pending ? Buffer.from(JSON.stringify({ ...input, WaitTimeSeconds: Math.min(1, Number(input.WaitTimeSeconds ?? 0)) })) : raw;
        forward(
          req,
          body,
          (status, headers, out) => {
            if (status !== 200) return reply(res, status, headers, out);
            const parsed = JSON.parse(out.toString() || '{}') as { Messages?: SqsMessage[] };
            const now = Date.now();
            const deliver: SqsMessage[] = [];
            let list = later.get(queueUrl);
            if (!list) later.set(queueUrl, (list = []));
            for (const m of parsed.Messages ?? []) {
              seen++;
              stats.duplicated++;
              list.push({ due: now + 300 + (seen % 7) * 150, msg: { ...m, ReceiptHandle: `dup-${randomUUID()}` } });
              if (seen % delayEvery === 0) {
                stats.delayed++;
                list.push({ due: now + delayMs, msg: m });
              } else deliver.push(m);
            }
            reply(res, 200, headers, Buffer.from(JSON.stringify({ ...parsed, Messages: deliver })));
          },
          fail,
        );
        return;
      }
      if (target.endsWith('.DeleteMessageBatch') || target.endsWith('.ChangeMessageVisibilityBatch')) {
        const entries = (input.Entries ?? []) as Array<{ Id: string; ReceiptHandle: string }>;
        const fake = entries.filter((e) => e.ReceiptHandle.startsWith('dup-'));
        const real = entries.filter((e) => !e.ReceiptHandle.startsWith('dup-'));
        if (real.length === 0) {
          reply(res, 200, { 'content-type': 'application/x-amz-json-1.0' }, Buffer.from(JSON.stringify({ Successful: fake.map((e) => ({ Id: e.Id })), Failed: [] })));
          return;
        }
        forward(
          req,
          Buffer.from(JSON.stringify({ ...input, Entries: real })),
          (status, headers, out) => {
            if (status !== 200) return reply(res, status, headers, out);
            const parsed = JSON.parse(out.toString() || '{}') as { Successful?: Array<{ Id: string }> };
            reply(res, 200, headers, Buffer.from(JSON.stringify({ ...parsed, Successful: [...(parsed.Successful ?? []), ...fake.map((e) => ({ Id: e.Id }))] })));
          },
          fail,
        );
        return;
      }
      if ((target.endsWith('.DeleteMessage') || target.endsWith('.ChangeMessageVisibility')) && String(input.ReceiptHandle ?? '').startsWith('dup-')) {
        reply(res, 200, { 'content-type': 'application/x-amz-json-1.0' }, Buffer.from('{}'));
        return;
      }
      forward(req, raw, (s, h, b) => reply(res, s, h, b), fail);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
