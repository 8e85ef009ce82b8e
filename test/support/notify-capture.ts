import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { SMTPServer } from 'smtp-server';

/**
 * Local capture servers for notification tests, on 127.0.0.1 and a free port.
 */
export interface CapturedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpCapture {
  url: string;
  requests: CapturedRequest[];
  /** Status for the next requests (default 200); shift()ed per request when it is an array. */
  respondWith: number[];
  close(): Promise<void>;
}

/** An HTTP server that records every request and answers `ok` (like a Slack webhook). */
export async function startHttpCapture(): Promise<HttpCapture> {
  const requests: CapturedRequest[] = [];
  const respondWith: number[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const status = respondWith.shift() ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status === 200 ? 'ok' : 'invalid_payload');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/services/T000/B000/XXXX`,
    requests,
    respondWith,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface CapturedMail {
  from: string;
  to: string[];
  raw: string;
}

export interface SmtpCapture {
  host: string;
  port: number;
  mails: CapturedMail[];
  close(): Promise<void>;
}

/** An SMTP server (no TLS, no auth) that keeps every message it receives. */
export async function startSmtpCapture(): Promise<SmtpCapture> {
  const mails: CapturedMail[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { host: '127.0.0.1', port, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
