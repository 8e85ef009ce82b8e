import { randomBytes } from 'node:crypto';
import { SqsClusterQueues } from '../adapters/cluster-queues/sqs.ts';
import { DEFAULT_QUEUE_PREFIX, SESSION_HEARTBEAT_SECONDS, type ClusterQueues } from '../shared/ports/cluster-queues.ts';
import { ProtocolError } from '../comm/errors.ts';
import { decodeReply, protocolErrorFromNotice, type ClientToScheduler, type Reply, type RequestOp } from '../comm/protocol.ts';
import {
  EnvelopeRefusal, MAX_INLINE_MESSAGE_BYTES, decodeReplyBody, packBody, packToFit, readEnvelope,
  type DecodedReplyBody, type Envelope, type PayloadPointer, type ReplyKind, type RequestKind, type SqsRoute, type StatusOp, type SubmitMessage,
} from '../comm/sqs-envelope/index.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../shared/core/retry.ts';
import { ClientClosedError, SqsRouteUnavailableError } from './errors.ts';
import { EnvelopeIo, type OutgoingEnvelope, type ReceivedMessage } from './sqs-transport-io.ts';
import type { ClientTransport, SchedulerEvent } from './transport.ts';

export interface SqsTransportOptions {
  route: SqsRoute;
  /** Resume this session (results not yet released are sent again). @default a new random session */
  session?: string;
  /** Use this reply queue (it is then not deleted on close). @default one made for the session and deleted on close */
  replyQueueUrl?: string;
  /** Static credentials (the local emulator); on AWS the default provider chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** How long to wait for the scheduler's first heartbeat. @default 60000 */
  connectTimeoutMs?: number;
  /** Told about pauses (a restarting scheduler, long silence). @default a line on stderr */
  onNotice?: (line: string) => void;
  /** Concurrent long polls of the reply queue (each returns up to 10 messages; deletes overlap the next poll). @default 1 */
  pollers?: number;
  /** An I/O layer to use (tests count its calls). */
  io?: EnvelopeIo;
}

type Outgoing =
  | { kind: 'submit'; msg: SubmitMessage; bufs: Uint8Array[] | null; request?: PendingRequest; rel?: string[] }
  | { kind: 'cancel' | 'release'; keys: string[] }
  | { kind: 'status'; body: { op: StatusOp; keys?: string[]; key?: string }; request: PendingRequest }
  | { kind: 'ping' | 'close'; body: Record<string, unknown>; request?: PendingRequest };

interface PendingRequest {
  op: RequestOp | 'fetch' | 'ping' | 'close';
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  id?: string;
}

const POLL_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 100, maxMs: 5_000, factor: 2, jitter: 'equal' });
/** Silent this long while work is pending: ping; this long again: say so. */
const SILENCE_PING_MS = 10_000;
const SILENCE_NOTICE_MS = 30_000;
const fitsInline = (bodyBytes: number) => Math.ceil(bodyBytes / 3) * 4 + 2048 <= MAX_INLINE_MESSAGE_BYTES;
/**
 * How long released keys wait for something else to send. The request queue
 * is FIFO per session: an envelope ahead of a submission holds it back for a
 * whole receive-record-delete cycle of the bridge, and a release is never
 * urgent, so releases ride behind the next submission (or leave alone after this).
 */
const RELEASE_LINGER_MS = 50;

/**
 * The client's route over SQS, for clients that reach the AWS APIs but not
 * the scheduler: the same messages as over TCP, in envelopes (comm/sqs-envelope)
 * on the cluster's request queue, with replies on a queue of this session.
 * Messages of one event-loop turn travel together (many tasks per message,
 * many messages per SendMessageBatch); results arrive many per message with
 * their data inline (or through S3), so `fetch` is rarely needed.
 */
export class SqsTransport implements ClientTransport {
  readonly clientId: string;
  readonly replyQueueUrl: string;
  /** Events that arrived before anyone listened (a resumed session's results come right after the first heartbeat). */
  private early: Array<[SchedulerEvent, Buffer[] | undefined]> | undefined = [];
  private handler: (msg: SchedulerEvent, buffers: Buffer[] | undefined) => void = (msg, bufs) => this.early?.push([msg, bufs]);
  private readonly closeHandlers: Array<(err?: Error) => void> = [];
  private outbox: Outgoing[] = [];
  /** Released keys not yet posted (see RELEASE_LINGER_MS), in release order. */
  private lingering: string[] = [];
  private lingerTimer: NodeJS.Timeout | undefined;
  private flushScheduled = false;
  private sending: Promise<void> = Promise.resolve();
  private inFlightSends = 0;
  private drainWaiters: Array<() => void> = [];
  private readonly pending = new Map<string, PendingRequest>();
  /** Wanted keys per submit envelope, failed with the envelope's error if it is refused. */
  private readonly submitted = new Map<string, string[]>();
  private readonly seen = new Set<string>();
  private readonly seenOrder: string[] = [];
  private seq = 0;
  private nextId = 0;
  private readonly idPrefix = randomBytes(6).toString('hex');
  private readonly abort = new AbortController();
  private readonly loops: Array<Promise<void>> = [];
  private readonly deletes = new Set<Promise<unknown>>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private lastHeard = Date.now();
  private silenceNoticed = false;
  private silenceTimer: NodeJS.Timeout | undefined;
  private touchTimer: NodeJS.Timeout | undefined;
  /** What the scheduler last said about this session's work. */
  lastProgress: { pending: number; done: number } | undefined;
  /** Replies received twice (SQS delivers at least once) and dropped. */
  duplicatesDropped = 0;

  private constructor(
    readonly io: EnvelopeIo,
    readonly route: SqsRoute,
    session: string,
    replyQueueUrl: string,
    private readonly ownsReplyQueue: boolean,
    private readonly options: SqsTransportOptions,
    private readonly queues: ClusterQueues,
  ) {
    this.clientId = session;
    this.replyQueueUrl = replyQueueUrl;
  }

  /**
   * Make (or reuse) the session's reply queue, start polling it, and ping the
   * scheduler; resolves at its first heartbeat. Throws SqsRouteUnavailableError
   * when none comes within `connectTimeoutMs` (the reply queue is removed).
   */
  static async connect(options: SqsTransportOptions): Promise<SqsTransport> {
    const route = options.route;
    const io = options.io ?? new EnvelopeIo(route, options.credentials ? { credentials: options.credentials } : {});
    const session = options.session ?? `s${randomBytes(8).toString('hex')}`;
    const queues = sessionQueues(route, io);
    let replyQueueUrl = options.replyQueueUrl;
    if (!replyQueueUrl) {
      try {
        // The cluster's queue adapter: named by the deployment's convention, tagged like the request queue (cost), with a last-seen time.
        replyQueueUrl = (await queues.ensureSessionQueue(route.clusterId, session)).url;
      } catch (err) {
        if (!options.io) io.destroy();
        throw new SqsRouteUnavailableError(`cannot create the reply queue of this session on ${route.endpoint ?? route.region}: ${(err as Error).message}`, { cause: err });
      }
    }
    const t = new SqsTransport(io, route, session, replyQueueUrl, !options.replyQueueUrl, options, queues);
    t.startPolling();
    const timeoutMs = options.connectTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        t.call({ kind: 'ping', body: options.session ? { resume: true } : {} }, 'ping'),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new SqsRouteUnavailableError(`no answer from the scheduler of cluster ${route.clusterId} on its request queue within ${Math.round(timeoutMs / 1000)} s (${route.requestQueueUrl})`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (err) {
      await t.shutdown(false);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    t.silenceTimer = setInterval(() => t.watchSilence(), 2_000);
    t.silenceTimer.unref();
    // The harvester deletes reply queues whose last-seen tag grows old (shared/ports/cluster-queues.ts).
    t.touchTimer = setInterval(() => void t.touch(), SESSION_HEARTBEAT_SECONDS * 1000);
    t.touchTimer.unref();
    return t;
  }

  // ------------------------------------------------------------ ClientTransport

  send(msg: ClientToScheduler, buffers?: readonly Buffer[]): void {
    if (this.closed) return;
    switch (msg.op) {
      case 'update-graph':
      case 'upload-module':
        this.post({ kind: 'submit', msg, bufs: buffers ? [...buffers] : null });
        return;
      case 'cancel':
        this.post({ kind: 'cancel', keys: msg.keys });
        return;
      case 'release-keys':
        this.linger(msg.keys);
        return;
      default:
        // Requests go through `request`; `error` notices have no counterpart on this route.
        return;
    }
  }

  readonly request: ClientTransport['request'] = (msg, buffers) => this.requestRaw(msg as { op: RequestOp } & Record<string, unknown>, buffers) as never;

  private async requestRaw(msg: { op: RequestOp } & Record<string, unknown>, buffers?: readonly Buffer[]): Promise<Reply<RequestOp>> {
    if (this.closed) throw new ClientClosedError();
    if (msg.op === 'register-plugin') {
      const fields = await this.call({ kind: 'submit', msg: { op: 'register-plugin', id: 0, hash: String(msg.hash), name: String(msg.name) }, bufs: buffers ? [...buffers] : null }, 'register-plugin');
      return decodeReply('register-plugin', { op: 'reply', id: 0, ...(fields as object) }) as Reply<RequestOp>;
    }
    const body: { op: StatusOp; keys?: string[]; key?: string } = { op: msg.op };
    if (Array.isArray(msg.keys)) body.keys = msg.keys as string[];
    if (typeof msg.key === 'string') body.key = msg.key;
    const fields = await this.call({ kind: 'status', body, request: undefined as never }, msg.op);
    return decodeReply(msg.op, { op: 'reply', id: 0, ...(fields as object) });
  }

  onMessage(handler: (msg: SchedulerEvent, buffers: Buffer[] | undefined) => void): void {
    this.handler = handler;
    const early = this.early ?? [];
    this.early = undefined;
    for (const [msg, bufs] of early) handler(msg, bufs);
  }

  onClose(handler: (err?: Error) => void): void {
    this.closeHandlers.push(handler);
  }

  drained(): Promise<void> {
    if (this.inFlightSends < 4) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  async fetch(keys: readonly string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    if (keys.length === 0) return out;
    const got = (await this.call({ kind: 'status', body: { op: 'fetch', keys: [...keys] }, request: undefined as never }, 'fetch')) as { data?: Array<[string, Uint8Array]> };
    for (const [k, b] of got.data ?? []) out.set(k, toBuffer(b));
    return out;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown(true);
    return this.closing;
  }

  // ------------------------------------------------------------ sending

  private call(item: Outgoing, op: PendingRequest['op']): Promise<unknown> {
    return new Promise((resolve, reject) => {
      (item as { request?: PendingRequest }).request = { op, resolve, reject };
      this.post(item);
    });
  }

  private post(item: Outgoing): void {
    if (this.lingering.length > 0) {
      // Releases so far ride with a submission (applied before it); a close must not overtake them.
      if (item.kind === 'submit') item.rel = this.takeLingering()?.keys;
      else if (item.kind === 'close') this.postLingering();
    }
    this.outbox.push(item);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private linger(keys: readonly string[]): void {
    this.lingering.push(...keys);
    this.lingerTimer ??= setTimeout(() => {
      this.lingerTimer = undefined;
      this.postLingering();
    }, RELEASE_LINGER_MS);
  }

  private postLingering(): void {
    const item = this.takeLingering();
    if (item) this.post(item);
  }

  private takeLingering(): { kind: 'release'; keys: string[] } | undefined {
    clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    if (this.lingering.length === 0) return undefined;
    const keys = this.lingering;
    this.lingering = [];
    return { kind: 'release', keys };
  }

  /**
   * Everything posted in one turn becomes envelopes (runs of one kind merged,
   * split to fit) sent in order. Releases still lingering ride with the last
   * submission when it does not name their keys (then their order does not
   * matter), else they go last.
   */
  private flush(): void {
    this.flushScheduled = false;
    const releases = this.outbox.length > 0 ? this.takeLingering() : undefined;
    if (releases) {
      const last = this.outbox.findLast((i): i is Extract<Outgoing, { kind: 'submit' }> => i.kind === 'submit' && !i.request);
      if (last && !namesAny(last.msg, releases.keys)) last.rel = [...(last.rel ?? []), ...releases.keys];
      else this.outbox.push(releases);
    }
    const items = this.outbox;
    this.outbox = [];
    const envelopes: OutgoingEnvelope[] = [];
    for (let i = 0; i < items.length; ) {
      const first = items[i] as Outgoing;
      let j = i + 1;
      // A submission carrying releases starts a run: its releases apply before it, not before those ahead of it.
      if (first.kind === 'submit' && !first.request) while (j < items.length && items[j]?.kind === 'submit' && !(items[j] as { request?: unknown }).request && !(items[j] as { rel?: unknown }).rel) j++;
      if (first.kind === 'cancel' || first.kind === 'release') while (j < items.length && items[j]?.kind === first.kind) j++;
      const run = items.slice(i, j);
      i = j;
      envelopes.push(...this.envelopesOf(run));
    }
    if (envelopes.length === 0) return;
    this.inFlightSends++;
    this.sending = this.sending
      .then(() => this.io.send(this.route.requestQueueUrl, envelopes, this.abort.signal))
      .then(
        () => undefined,
        (err: Error) => {
          if (this.closed && this.abort.signal.aborted) return;
          // Nothing of these envelopes may have arrived: fail what waits on them rather than hang.
          for (const e of envelopes) this.failEnvelope(e.header.id, { type: 'SqsSendError', message: `could not send to the request queue: ${err.message}`, op: e.header.kind, path: '' });
        },
      )
      .finally(() => {
        this.inFlightSends--;
        if (this.inFlightSends < 4) for (const w of this.drainWaiters.splice(0)) w();
      });
  }

  private envelopesOf(run: Outgoing[]): OutgoingEnvelope[] {
    const first = run[0] as Outgoing;
    const make = (kind: RequestKind, body: Buffer, request?: PendingRequest): OutgoingEnvelope => {
      const id = `${this.idPrefix}-${++this.nextId}`;
      if (request) {
        request.id = id;
        this.pending.set(id, request);
      }
      return { header: { id, cluster: this.route.clusterId, session: this.clientId, seq: ++this.seq, kind, replyQueueUrl: this.replyQueueUrl }, body };
    };
    if (first.kind === 'submit') {
      const msgs = run.map((r) => [(r as Extract<Outgoing, { kind: 'submit' }>).msg, (r as Extract<Outgoing, { kind: 'submit' }>).bufs] as [SubmitMessage, Uint8Array[] | null]);
      const rel = first.rel;
      return packToFit(msgs, (part) => packBody(rel && part[0] === msgs[0] ? { m: part, rel } : { m: part }), fitsInline).map((part) => {
        const env = make('submit', part.body, first.request);
        const wants = part.items.flatMap(([m]) => (m.op === 'update-graph' ? m.wants : []));
        if (wants.length > 0) this.submitted.set(env.header.id, wants);
        return env;
      });
    }
    if (first.kind === 'cancel' || first.kind === 'release') {
      const keys = run.flatMap((r) => (r as { keys: string[] }).keys);
      return packToFit(keys, (part) => packBody({ keys: part }), fitsInline).map((part) => make(first.kind as RequestKind, part.body));
    }
    const single = first as Extract<Outgoing, { kind: 'status' | 'ping' | 'close' }>;
    return [make(single.kind, packBody(single.body), single.request)];
  }

  // ------------------------------------------------------------ receiving

  private startPolling(): void {
    for (let i = 0; i < (this.options.pollers ?? 1); i++) this.loops.push(this.poll());
  }

  private async poll(): Promise<void> {
    for (let failures = 0; !this.closed; ) {
      let messages: ReceivedMessage[];
      try {
        messages = await this.io.receive(this.replyQueueUrl, { waitSeconds: 20, signal: this.abort.signal });
        failures = 0;
      } catch (err) {
        if (this.closed) return;
        const name = (err as { name?: string }).name ?? '';
        if (name.includes('NonExistentQueue') || name === 'QueueDoesNotExist') {
          this.fail(new ClientClosedError(`the reply queue of this session was deleted (${this.replyQueueUrl})`, { cause: err }));
          return;
        }
        await sleep(backoffDelay(failures++, POLL_BACKOFF));
        continue;
      }
      if (messages.length === 0) continue;
      this.lastHeard = Date.now();
      const pointers: PayloadPointer[] = [];
      for (const m of messages) {
        try {
          const ptr = await this.receiveOne(m);
          if (ptr) pointers.push(ptr);
        } catch (err) {
          this.notice(`dropped a reply from the scheduler: ${(err as Error).message}`);
        }
      }
      // Deleted while the next long poll waits (a message not deleted in time comes again and is dropped as a duplicate).
      const deleting = this.io
        .delete(this.replyQueueUrl, messages.map((m) => m.receiptHandle))
        .then(() => Promise.all(pointers.map((p) => this.io.deletePayload(p).catch(() => undefined))))
        .catch(() => undefined)
        .finally(() => this.deletes.delete(deleting));
      this.deletes.add(deleting);
    }
  }

  private async receiveOne(m: ReceivedMessage): Promise<PayloadPointer | undefined> {
    let env: Envelope;
    try {
      env = readEnvelope(m.text);
    } catch (err) {
      if (err instanceof EnvelopeRefusal) throw err.error;
      throw err;
    }
    if (env.c !== this.route.clusterId || env.s !== this.clientId) throw new ProtocolError(env.k, 's', 'a reply for another session or cluster');
    if (this.seen.has(env.id)) {
      this.duplicatesDropped++;
      return env.ptr;
    }
    const body = await this.io.body(env);
    const kind = env.k as ReplyKind;
    this.remember(env.id);
    this.dispatch(kind, decodeReplyBody(kind, body), env.r);
    return env.ptr;
  }

  private remember(id: string): void {
    this.seen.add(id);
    this.seenOrder.push(id);
    if (this.seenOrder.length > 100_000) this.seen.delete(this.seenOrder.shift() as string);
  }

  private dispatch(kind: ReplyKind, body: DecodedReplyBody<ReplyKind>, correlation: string | undefined): void {
    switch (kind) {
      case 'result': {
        const b = body as DecodedReplyBody<'result'>;
        for (const [msg, bufs] of b.m ?? []) this.handler(msg, bufs ? bufs.map(toBuffer) : undefined);
        if (correlation && (b.reply !== undefined || b.data !== undefined)) this.settle(correlation, b.reply ?? { data: b.data ?? [], missing: b.missing ?? [] });
        return;
      }
      case 'error': {
        const b = body as DecodedReplyBody<'error'>;
        if (correlation) this.failEnvelope(correlation, b.error);
        else this.notice(`the scheduler reported: ${b.error.message}`);
        return;
      }
      case 'heartbeat': {
        const b = body as DecodedReplyBody<'heartbeat'>;
        if (b.state === 'recovering') this.notice(`the scheduler restarted; recomputing ${b.pending} pending result(s)`);
        if (correlation) this.settle(correlation, b);
        return;
      }
      case 'progress':
        this.lastProgress = body as DecodedReplyBody<'progress'>;
        return;
      case 'accepted':
        for (const id of (body as DecodedReplyBody<'accepted'>).ids) this.submitted.delete(id);
        return;
    }
  }

  private settle(id: string, value: unknown): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.resolve(value);
  }

  /** The scheduler refused an envelope (or it could not be sent): its request rejects, its tasks fail with the reason. */
  private failEnvelope(id: string, error: { type: string; message: string; op: string; path: string }): void {
    const p = this.pending.get(id);
    if (p) {
      this.pending.delete(id);
      p.reject(protocolErrorFromNotice(error));
    }
    const wants = this.submitted.get(id);
    if (wants) {
      this.submitted.delete(id);
      for (const key of wants) this.handler({ op: 'task-erred', key, error: { name: error.type, message: error.message } }, undefined);
    }
    if (!p && !wants) this.notice(`the scheduler refused a message: ${error.message}`);
  }

  private watchSilence(): void {
    if (this.closed) return;
    const silentMs = Date.now() - this.lastHeard;
    const waiting = this.pending.size > 0 || this.submitted.size > 0 || (this.lastProgress?.pending ?? 0) > 0;
    if (!waiting) return;
    if (silentMs >= SILENCE_PING_MS && ![...this.pending.values()].some((p) => p.op === 'ping')) {
      void this.call({ kind: 'ping', body: {} }, 'ping').catch(() => undefined);
    }
    if (silentMs >= SILENCE_NOTICE_MS && !this.silenceNoticed) {
      this.silenceNoticed = true;
      this.notice(`no word from the scheduler of cluster ${this.route.clusterId} for ${Math.round(silentMs / 1000)} s; still waiting (it may be restarting)`);
    }
    if (silentMs < SILENCE_NOTICE_MS) this.silenceNoticed = false;
  }

  private async touch(): Promise<void> {
    if (this.closed) return;
    try {
      await this.queues.touchSession(this.route.clusterId, this.clientId, new Date().toISOString());
    } catch {
      // Retried at the next period; the harvester allows several missed ones.
    }
  }

  private notice(line: string): void {
    if (this.options.onNotice) this.options.onNotice(line);
    else process.stderr.write(`recc: ${line}\n`);
  }

  // ------------------------------------------------------------ closing

  private fail(err: Error): void {
    if (this.closed) return;
    void this.shutdown(false, err);
  }

  private async shutdown(graceful: boolean, err?: Error): Promise<void> {
    if (graceful && !this.closed) {
      // `close` has no reply: its send completing is enough.
      this.post({ kind: 'close', body: {} });
      this.flush();
    }
    this.closed = true;
    clearTimeout(this.lingerTimer);
    clearInterval(this.silenceTimer);
    clearInterval(this.touchTimer);
    await this.sending.catch(() => undefined);
    this.abort.abort();
    await Promise.allSettled(this.loops);
    await Promise.allSettled([...this.deletes]);
    for (const p of this.pending.values()) p.reject(err ?? new ClientClosedError());
    this.pending.clear();
    if (this.ownsReplyQueue) await this.queues.deleteSessionQueue(this.route.clusterId, this.clientId).catch(() => undefined);
    if (!this.options.io) this.io.destroy();
    for (const h of this.closeHandlers) h(err);
  }
}

/** Whether a submitted message wants, or defines a task of, any of these keys. */
function namesAny(msg: SubmitMessage, keys: readonly string[]): boolean {
  if (msg.op !== 'update-graph') return false;
  const set = new Set(keys);
  return msg.wants.some((k) => set.has(k)) || msg.tasks.some((t) => set.has(t.key));
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The session-queue side of the cluster's queues, with the deployment prefix the route's reply prefix implies (`<prefix><clusterId>-reply-`). */
function sessionQueues(route: SqsRoute, io: EnvelopeIo): ClusterQueues {
  const tail = `${route.clusterId}-reply-`;
  const prefix = route.replyQueuePrefix.endsWith(tail) ? route.replyQueuePrefix.slice(0, -tail.length) : DEFAULT_QUEUE_PREFIX;
  return new SqsClusterQueues({ client: io.sqs, prefix });
}
