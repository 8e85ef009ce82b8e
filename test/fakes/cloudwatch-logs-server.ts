import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A wire-level fake CloudWatch Logs endpoint (AWS JSON 1.1 over HTTP on
 * 127.0.0.1, `X-Amz-Target: Logs_20140328.<Operation>`) for processes that
 * ship their own logs. Behaviour from the CloudWatch Logs API reference:
 * - CreateLogGroup / CreateLogStream: ResourceAlreadyExistsException when
 *   present; a stream needs its group (ResourceNotFoundException);
 * - PutLogEvents: the stream must exist; at most 10,000 events and 1,048,576
 *   bytes (UTF-8 message bytes + 26 each); chronological; at most 24 hours
 *   apart; each event at most 256 KiB with its 26 bytes
 *   (InvalidParameterException); the sequence token is ignored;
 * - FilterLogEvents: `logStreamNamePrefix` or `logStreamNames`, `startTime`,
 *   `endTime`, a quoted-term `filterPattern`, `limit`, paginated by an opaque
 *   `nextToken` (pages of `pageSize`);
 * - PutRetentionPolicy stores the retention.
 */
interface StoredEvent {
  timestamp: number;
  ingestionTime: number;
  message: string;
  eventId: string;
  logStreamName: string;
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export class FakeCloudWatchLogs {
  readonly groups = new Map<string, { retentionInDays?: number; streams: Map<string, StoredEvent[]> }>();
  readonly calls: Array<{ operation: string; input: any }> = [];
  /** Events per FilterLogEvents page. @default 50 */
  pageSize = 50;
  private server: Server | undefined;
  private port = 0;
  private seq = 0;

  static async start(): Promise<FakeCloudWatchLogs> {
    const fake = new FakeCloudWatchLogs();
    fake.server = createServer((req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => fake.server!.listen(0, '127.0.0.1', () => resolve()));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Every event of a group, in stream then time order (assertions). */
  events(group: string, streamPrefix = ''): StoredEvent[] {
    const g = this.groups.get(group);
    if (!g) return [];
    return [...g.streams].filter(([name]) => name.startsWith(streamPrefix)).flatMap(([, events]) => events);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.replace(/^Logs_20140328\./, '');
    let status = 200;
    let body: unknown;
    try {
      const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      this.calls.push({ operation, input });
      body = this.dispatch(operation, input);
    } catch (err) {
      const e = err instanceof AwsError ? err : new AwsError('ServiceUnavailableException', String(err), 500);
      status = e.status;
      body = { __type: e.type, message: e.message };
    }
    const text = JSON.stringify(body ?? {});
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text), 'x-amzn-requestid': `req-${this.seq}` });
    res.end(text);
  }

  private group(name: string | undefined) {
    const g = this.groups.get(name ?? '');
    if (!g) throw new AwsError('ResourceNotFoundException', 'The specified log group does not exist.');
    return g;
  }

  private dispatch(operation: string, input: any): unknown {
    switch (operation) {
      case 'CreateLogGroup':
        if (this.groups.has(input.logGroupName)) throw new AwsError('ResourceAlreadyExistsException', 'The specified log group already exists');
        this.groups.set(input.logGroupName, { streams: new Map() });
        return {};
      case 'PutRetentionPolicy':
        this.group(input.logGroupName).retentionInDays = input.retentionInDays;
        return {};
      case 'CreateLogStream': {
        const g = this.group(input.logGroupName);
        if (g.streams.has(input.logStreamName)) throw new AwsError('ResourceAlreadyExistsException', 'The specified log stream already exists');
        g.streams.set(input.logStreamName, []);
        return {};
      }
      case 'PutLogEvents':
        return this.put(input);
      case 'FilterLogEvents':
        return this.filter(input);
      default:
        throw new AwsError('UnknownOperationException', `FakeCloudWatchLogs does not model ${operation}`);
    }
  }

  private put(input: any): unknown {
    const events: Array<{ timestamp: number; message: string }> = input.logEvents ?? [];
    const stream = this.group(input.logGroupName).streams.get(input.logStreamName);
    if (!stream) throw new AwsError('ResourceNotFoundException', 'The specified log stream does not exist.');
    if (events.length === 0 || events.length > 10_000) throw new AwsError('InvalidParameterException', '1 validation error detected: logEvents must have length between 1 and 10000');
    let bytes = 0;
    for (let i = 0; i < events.length; i += 1) {
      const e = events[i]!;
      const size = Buffer.byteLength(e.message ?? '', 'utf8') + 26;
      if (size > 262_144) throw new AwsError('InvalidParameterException', 'Log event too large');
      bytes += size;
      if (i > 0 && e.timestamp < events[i - 1]!.timestamp) throw new AwsError('InvalidParameterException', 'Log events in a single PutLogEvents request must be in chronological order.');
    }
    if (bytes > 1_048_576) throw new AwsError('InvalidParameterException', 'Upload too large: the batch exceeds 1,048,576 bytes');
    if (events.at(-1)!.timestamp - events[0]!.timestamp > 24 * 3_600_000) throw new AwsError('InvalidParameterException', 'The batch of log events in a single PutLogEvents request cannot span more than 24 hours.');
    const now = Date.now();
    for (const e of events) {
      this.seq += 1;
      stream.push({ timestamp: e.timestamp, ingestionTime: now, message: e.message, eventId: String(this.seq).padStart(12, '0'), logStreamName: input.logStreamName });
    }
    return { nextSequenceToken: String(this.seq) };
  }

  private filter(input: any): unknown {
    const g = this.group(input.logGroupName);
    if (input.logStreamNames && input.logStreamNamePrefix) throw new AwsError('InvalidParameterException', 'logStreamNames and logStreamNamePrefix are mutually exclusive');
    const term = /^"(.*)"$/.exec(input.filterPattern ?? '')?.[1];
    const all = [...g.streams]
      .filter(([name]) => (input.logStreamNames ? input.logStreamNames.includes(name) : name.startsWith(input.logStreamNamePrefix ?? '')))
      .flatMap(([, events]) => events)
      .filter((e) => (input.startTime === undefined || e.timestamp >= input.startTime) && (input.endTime === undefined || e.timestamp <= input.endTime))
      .filter((e) => term === undefined || e.message.includes(term))
      .sort((a, b) => a.timestamp - b.timestamp || a.eventId.localeCompare(b.eventId));
    const start = input.nextToken ? Number(Buffer.from(input.nextToken, 'base64').toString('utf8')) : 0;
    const size = Math.min(input.limit ?? 10_000, this.pageSize);
    const page = all.slice(start, start + size);
    const next = start + size < all.length ? Buffer.from(String(start + size)).toString('base64') : undefined;
    return { events: page.map((e) => ({ ...e })), searchedLogStreams: [], ...(next ? { nextToken: next } : {}) };
  }
}
