import type { EnvelopeIo } from '../../client/sqs-transport-io.ts';
import { TcpTransport, type SchedulerEvent } from '../../client/transport.ts';
import type { FunctionDef } from '../../comm/payload.ts';
import {
  MAX_INLINE_MESSAGE_BYTES, packBody, packToFit,
  type DecodedRequestBody, type DecodedSubmit, type Envelope, type SchedulerEventMessage, type SubmitMessage,
} from '../../comm/sqs-envelope/index.ts';
import { systemClock, type Clock } from '../../shared/core/clock.ts';
import type { Logger } from '../../shared/core/logger.ts';
import { CONNECT_BACKOFF, retry } from '../../shared/core/retry.ts';
import type { ReplySender } from './replies.ts';
import { DEFAULT_DEDUP, SeenIds, type DedupPolicy } from './seen-ids.ts';
import type { StoreRecord, SubmissionStore } from './store.ts';

/** What the session needs from the bridge around it. */
export interface SessionContext {
  schedulerAddress: string;
  token: string;
  caPem?: string;
  store: SubmissionStore;
  replies: ReplySender;
  io: EnvelopeIo;
  logger: Logger;
  /** False once the bridge stops: no more reconnects. */
  running(): boolean;
  /** @default systemClock */
  clock?: Clock;
  /** How long recorded envelope ids are remembered. @default DEFAULT_DEDUP */
  dedup?: DedupPolicy;
}

/** One result as delivered to the client: kept until released (a resuming client gets it again). */
type ResultItem = { key: string; kind: 'mem'; nbytes: number; data: Uint8Array } | { key: string; kind: 'err'; event: Extract<SchedulerEventMessage, { op: 'task-erred' }> };

type SubmitRecord = Extract<StoreRecord, { t: 'submit' }>;

/** Results per reply message: packed up to the inline limit (less the header), split when larger. */
const fitsInline = (bodyBytes: number) => Math.ceil(bodyBytes / 3) * 4 + 1024 <= MAX_INLINE_MESSAGE_BYTES;

/**
 * One client session seen by the bridge: a TCP client of the scheduler on
 * the session's behalf, and what must survive a scheduler restart (its
 * submissions, cancels, releases, and the results it was sent but has not
 * released). Envelopes of a session are handled one at a time, in order.
 */
export class BridgeSession {
  private transport: TcpTransport | undefined;
  private connecting: Promise<TcpTransport> | undefined;
  private readonly submissions: SubmitRecord[] = [];
  private readonly fns = new Map<string, FunctionDef>();
  /** Envelope ids recorded, for as long as SQS may deliver a copy (deduplication of redelivered envelopes). */
  readonly seen: SeenIds;
  private readonly cancelled = new Set<string>();
  /** Keys the client wants and has not released. */
  private readonly held = new Set<string>();
  private readonly delivered = new Map<string, ResultItem>();
  /** Delivered results whose reply is still on its way: a compaction keeps none of them (a crash must send them again). */
  private readonly unsent = new Set<string>();
  private chain: Promise<void> = Promise.resolve();
  private outEvents: Array<[SchedulerEvent, Buffer[] | undefined]> = [];
  private flushScheduled = false;
  closed = false;
  lastSentAt = Date.now();
  /** When an envelope of this session last arrived (bridge clock). */
  lastHeardAt: number;
  /** When the bridge last checked that the reply queue exists, and since when it has found it gone (abandoned sessions: bridge.ts). */
  lastProbedAt = 0;
  goneSince: number | undefined;

  constructor(
    readonly id: string,
    readonly replyQueueUrl: string,
    private readonly ctx: SessionContext,
  ) {
    this.seen = new SeenIds(ctx.clock ?? systemClock, ctx.dedup ?? DEFAULT_DEDUP);
    this.lastHeardAt = (ctx.clock ?? systemClock).now();
  }

  /** Work wanted and not yet delivered. */
  get pending(): number {
    let n = 0;
    for (const k of this.held) if (!this.delivered.has(k)) n++;
    return n;
  }

  get done(): number {
    return this.delivered.size;
  }

  /** Run envelope handlers of this session one at a time, in arrival order. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  // ------------------------------------------------------------ records

  /** Rebuild from the durable record (after a restart). */
  restore(record: StoreRecord): void {
    switch (record.t) {
      case 'submit':
        // A record appended while a compaction ran can be both in the compacted record and after it.
        if (this.seen.has(record.id)) return;
        // A submission after a `close`: the session was ended as abandoned and its client came back.
        this.closed = false;
        this.applySubmit(record);
        return;
      case 'cancel':
        this.seen.add(record.id);
        for (const k of record.keys) this.cancelled.add(k);
        return;
      case 'release':
        this.seen.add(record.id);
        this.applyRelease(record.keys);
        return;
      case 'result':
        for (const item of itemsOf(record.m)) if (this.held.has(item.key)) this.delivered.set(item.key, item);
        return;
      case 'close':
        this.closed = true;
        return;
      case 'seen':
        for (const id of record.ids) this.seen.add(id);
        return;
    }
  }

  /**
   * What to keep when the record is compacted: the session's submissions,
   * cancels, and unreleased results that were sent. Synchronous, so it holds
   * the effect of every append made before it (each envelope changes this
   * state when it appends its record, not after). Forgets the submissions it
   * drops here too, so a long session's memory stays bounded like its record.
   */
  snapshot(): StoreRecord[] {
    if (this.closed) return [];
    const live = this.liveSubmissions();
    this.submissions.splice(0, this.submissions.length, ...live);
    const out: StoreRecord[] = [];
    // Function definitions outlive the submissions that brought them (later ones refer to them by id).
    if (this.fns.size > 0) out.push({ t: 'submit', s: this.id, rq: this.replyQueueUrl, id: `compacted-fns-${this.id}`, m: [[{ op: 'update-graph', tasks: [], wants: [], fns: [...this.fns] }, null]] });
    out.push(...live);
    if (this.cancelled.size > 0) out.push({ t: 'cancel', s: this.id, id: `compacted-${this.id}`, keys: [...this.cancelled] });
    const released = new Set<string>();
    for (const sub of live) for (const [m] of sub.m) if (m.op === 'update-graph') for (const k of m.wants) if (!this.held.has(k)) released.add(k);
    if (released.size > 0) out.push({ t: 'release', s: this.id, id: `compacted-release-${this.id}`, keys: [...released] });
    const results = [...this.delivered.values()].filter((r) => !this.unsent.has(r.key));
    if (results.length > 0) out.push({ t: 'result', s: this.id, m: messagesOf(results) });
    // Last, so the submissions above are restored first (restore skips a submission whose id it has seen);
    // only the ids no kept record carries (restoring a record remembers its own id).
    const kept = new Set(out.flatMap((r) => ('id' in r ? [r.id] : [])));
    const seen = this.seen.ids().filter((id) => !kept.has(id));
    if (seen.length > 0) out.push({ t: 'seen', s: this.id, rq: this.replyQueueUrl, ids: seen });
    return out;
  }

  /**
   * Submissions still needed: those wanting a key the client holds, those
   * whose tasks a needed submission depends on, and modules and plugins.
   * Fully released work is neither replayed nor kept.
   */
  private liveSubmissions(): SubmitRecord[] {
    const live = new Set<SubmitRecord>();
    const needed = new Set<string>();
    for (let i = this.submissions.length - 1; i >= 0; i--) {
      const sub = this.submissions[i] as SubmitRecord;
      let keep = false;
      for (const [m] of sub.m) {
        if (m.op !== 'update-graph') keep = true;
        else if (m.wants.some((k) => this.held.has(k)) || m.tasks.some((t) => needed.has(t.key))) keep = true;
      }
      if (!keep) continue;
      live.add(sub);
      for (const [m] of sub.m) if (m.op === 'update-graph') for (const t of m.tasks) for (const d of t.deps) needed.add(d);
    }
    return this.submissions.filter((s) => live.has(s));
  }

  private applySubmit(record: SubmitRecord, recorded = true): void {
    if (recorded) this.seen.add(record.id);
    if (record.rel) this.applyRelease(record.rel);
    this.submissions.push(record);
    for (const [m] of record.m) {
      if (m.op !== 'update-graph') continue;
      for (const [id, def] of m.fns) if (!this.fns.has(id)) this.fns.set(id, def);
      for (const k of m.wants) this.held.add(k);
    }
  }

  private applyRelease(keys: readonly string[]): void {
    for (const k of keys) {
      this.held.delete(k);
      this.delivered.delete(k);
      this.unsent.delete(k);
    }
  }

  // ------------------------------------------------------------ envelopes

  /**
   * A submission: sent to the scheduler while it is being recorded, so the
   * record's sync overlaps the computation; resolves (and the envelope may be
   * acknowledged, `accepted` goes out) only once it is durable. If recording
   * fails the envelope is redelivered and applied again: the scheduler merges
   * a graph it already has, and results the client gets meanwhile are results
   * it asked for.
   */
  async submit(env: Envelope, body: DecodedSubmit): Promise<void> {
    const record: SubmitRecord = { t: 'submit', s: this.id, rq: this.replyQueueUrl, id: env.id, m: body.m, ...(body.rel && body.rel.length > 0 ? { rel: body.rel } : {}) };
    const durable = this.ctx.store.append([record]);
    this.applySubmit(record, false);
    const t = this.transport;
    if (t) {
      if (record.rel) t.send({ op: 'release-keys', keys: record.rel });
      for (const [m, bufs] of record.m) this.forward(t, m, bufs, false);
    }
    else void this.ensureConnected().catch(() => undefined);
    try {
      await durable;
    } catch (err) {
      // Not recorded: forgotten here until it comes again (the held keys stay: their results are wanted).
      const at = this.submissions.indexOf(record);
      if (at >= 0) this.submissions.splice(at, 1);
      throw err;
    }
    this.seen.add(record.id);
    void this.reply('accepted', { ids: [env.id] }, env.id);
    if (record.m.some(([m]) => m.op === 'register-plugin')) void this.reply('result', { reply: {} }, env.id);
  }

  async cancel(env: Envelope, body: DecodedRequestBody<'cancel'>): Promise<void> {
    // Applied as the record is appended (a compaction meanwhile keeps it); applied again if it is redelivered.
    const durable = this.ctx.store.append([{ t: 'cancel', s: this.id, id: env.id, keys: body.keys }]);
    for (const k of body.keys) this.cancelled.add(k);
    await durable;
    this.seen.add(env.id);
    this.transport?.send({ op: 'cancel', keys: body.keys });
    void this.reply('accepted', { ids: [env.id] }, env.id);
  }

  /**
   * A release is acknowledged once written, before its sync: it then survives
   * a killed scheduler, and losing it to a crash of the machine only means
   * released work is recomputed. Waiting for the sync would hold back the
   * session's next envelope (the request queue is FIFO per session).
   */
  async release(env: Envelope, body: DecodedRequestBody<'release'>): Promise<void> {
    const written = this.ctx.store.append([{ t: 'release', s: this.id, id: env.id, keys: body.keys }], { sync: false });
    this.applyRelease(body.keys);
    await written;
    this.seen.add(env.id);
    this.transport?.send({ op: 'release-keys', keys: body.keys });
  }

  async close(env: Envelope): Promise<void> {
    const durable = this.ctx.store.append([{ t: 'close', s: this.id, id: env.id }]);
    this.closed = true;
    await durable;
    this.seen.add(env.id);
    await this.transport?.close().catch(() => undefined);
  }

  /**
   * The client is gone for good (bridge.ts decides): record the end, as a
   * `close` would, and disconnect, so the scheduler releases what the session
   * held. Idempotent.
   */
  async abandon(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.ctx.store.append([{ t: 'close', s: this.id, id: `abandoned-${(this.ctx.clock ?? systemClock).now()}` }]).catch(() => undefined);
    await this.stop();
  }

  /** A question answered from the scheduler's state; waits while the scheduler is (re)starting. */
  async status(env: Envelope, body: DecodedRequestBody<'status'>): Promise<void> {
    const t = await this.ensureConnected();
    if (body.op === 'fetch') {
      const keys = body.keys ?? [];
      const got = await t.fetch(keys);
      const data = [...got].map(([k, b]): [string, Uint8Array] => [k, b]);
      const missing = keys.filter((k) => !got.has(k));
      await this.reply('result', { data, missing }, env.id);
      return;
    }
    const req =
      body.op === 'story' ? { op: 'story' as const, key: body.key ?? '' } : body.op === 'info' ? { op: 'info' as const } : { op: body.op, keys: body.keys ?? [] };
    const { op: _op, id: _id, ...fields } = (await t.request(req as never)) as Record<string, unknown>;
    await this.reply('result', { reply: fields }, env.id);
  }

  /** Opens or resumes the session: a heartbeat answers; `resume` sends every unreleased result again. */
  async ping(env: Envelope, body: DecodedRequestBody<'ping'>, recovering: boolean): Promise<void> {
    await this.reply('heartbeat', { state: recovering ? 'recovering' : 'ready', pending: this.pending }, env.id);
    if (body.resume) await this.sendResults([...this.delivered.values()], [], false);
    if (!this.transport) void this.ensureConnected().catch(() => undefined);
  }

  reply(kind: 'accepted' | 'progress' | 'result' | 'error' | 'heartbeat', body: Record<string, unknown>, correlation?: string, packed?: Buffer): Promise<void> {
    this.lastSentAt = Date.now();
    return this.ctx.replies.send(this.id, this.replyQueueUrl, kind, body, correlation, packed);
  }

  // ------------------------------------------------------------ the scheduler side

  /**
   * The TCP client of the scheduler for this session. On (re)connect the
   * recorded work is sent again first: modules, plugins, every submission
   * (wants less what was released) and the cancels, so a restarted scheduler
   * recomputes what was accepted. Done synchronously once connected, so a
   * submission is either in the replay or sent after it, never both.
   */
  ensureConnected(): Promise<TcpTransport> {
    if (this.transport) return Promise.resolve(this.transport);
    this.connecting ??= (async () => {
      try {
        const t = await retry(() => TcpTransport.connect(this.ctx.schedulerAddress, this.ctx.token, this.ctx.caPem), {
          ...CONNECT_BACKOFF,
          retryIf: () => this.ctx.running() && !this.closed,
          onRetry: (err, attempt) => {
            if (attempt % 10 === 0) this.ctx.logger.warn('cannot connect a session to the scheduler; retrying', { event: 'sqs-bridge.connect-retry', session: this.id, attempt, error: (err as Error).message });
          },
        });
        t.onMessage((msg, bufs) => this.onSchedulerEvent(msg, bufs));
        t.onClose(() => {
          if (this.transport !== t) return;
          this.transport = undefined;
          if (this.ctx.running() && !this.closed) {
            this.ctx.logger.warn('lost the scheduler connection of a session; reconnecting', { event: 'sqs-bridge.session-reconnect', session: this.id });
            void this.ensureConnected().catch(() => undefined);
          }
        });
        this.replay(t);
        this.transport = t;
        return t;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  private replay(t: TcpTransport): void {
    let fnsSent = false;
    let tasks = 0;
    const live = this.liveSubmissions();
    for (const sub of live) {
      for (const [m, bufs] of sub.m) {
        if (m.op === 'update-graph') {
          tasks += m.tasks.length;
          const wants = m.wants.filter((k) => this.held.has(k));
          this.forward(t, { ...m, wants, fns: fnsSent ? [] : [...this.fns] }, bufs, true);
          fnsSent = true;
        } else this.forward(t, m, bufs, true);
      }
    }
    if (this.cancelled.size > 0) t.send({ op: 'cancel', keys: [...this.cancelled] });
    if (live.length > 0) {
      this.ctx.logger.info('session replayed to the scheduler', { event: 'sqs-bridge.session-replayed', session: this.id, submissions: live.length, tasks, pending: this.pending });
    }
  }

  private forward(t: TcpTransport, m: SubmitMessage, bufs: Uint8Array[] | null, replaying: boolean): void {
    const buffers = bufs?.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    if (m.op === 'register-plugin') {
      void t.request({ op: 'register-plugin', hash: m.hash, name: m.name }, buffers).catch((err: Error) => {
        this.ctx.logger.warn('the scheduler refused a plugin', { event: 'sqs-bridge.plugin-refused', session: this.id, error: err.message, replaying });
      });
      return;
    }
    t.send(m, buffers, m.op === 'update-graph' ? m.tasks.length : 1);
  }

  private onSchedulerEvent(msg: SchedulerEvent, bufs: Buffer[] | undefined): void {
    this.outEvents.push([msg, bufs]);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flushEvents().catch((err: Error) => this.ctx.logger.error('relaying results failed', { event: 'sqs-bridge.relay-failed', session: this.id, error: err.message })));
    }
  }

  /** Results of one turn to the reply queue: inline data, large results fetched from workers here, many per message. */
  private async flushEvents(): Promise<void> {
    this.flushScheduled = false;
    const events = this.outEvents;
    this.outEvents = [];
    const items: ResultItem[] = [];
    const others: Array<[SchedulerEventMessage, Uint8Array[] | null]> = [];
    const fetchKeys: Array<{ key: string; nbytes: number }> = [];
    const taken = new Set<string>();
    for (const [ev, bufs] of events) {
      if (ev.op === 'in-memory') {
        for (let i = 0; i < ev.k.length; i++) {
          const key = ev.k[i] as string;
          if (!this.held.has(key) || this.delivered.has(key) || taken.has(key)) continue;
          taken.add(key);
          const d = ev.di[i] as number;
          const data = d >= 0 ? bufs?.[d] : undefined;
          if (data) items.push({ key, kind: 'mem', nbytes: ev.n[i] as number, data });
          else fetchKeys.push({ key, nbytes: ev.n[i] as number });
        }
      } else if (ev.op === 'task-erred') {
        if (!this.held.has(ev.key) || this.delivered.has(ev.key) || taken.has(ev.key)) continue;
        taken.add(ev.key);
        items.push({ key: ev.key, kind: 'err', event: ev });
      } else if (ev.op === 'lost-data') {
        this.delivered.delete(ev.key);
        others.push([ev, null]);
      } else if (ev.op === 'cancelled') {
        if (this.held.has(ev.key)) others.push([ev, null]);
      } else if (ev.op === 'error') {
        this.ctx.logger.warn('the scheduler refused a relayed message', { event: 'sqs-bridge.refused', session: this.id, ...ev.error });
      } else {
        // Anything else the scheduler tells a client (shuffle progress…) is relayed as it is.
        others.push([ev, null]);
      }
    }
    if (fetchKeys.length > 0 && this.transport) {
      const got = await this.transport.fetch(fetchKeys.map((f) => f.key));
      for (const f of fetchKeys) {
        const data = got.get(f.key);
        if (data && this.held.has(f.key) && !this.delivered.has(f.key)) items.push({ key: f.key, kind: 'mem', nbytes: f.nbytes, data });
      }
    }
    await this.sendResults(items, others, true);
  }

  private async sendResults(items: ResultItem[], others: Array<[SchedulerEventMessage, Uint8Array[] | null]>, record: boolean): Promise<void> {
    if (record) {
      for (const item of items) {
        this.delivered.set(item.key, item);
        this.unsent.add(item.key);
      }
    }
    if (others.length > 0) void this.reply('result', { m: others });
    const parts = packToFit(items, (part) => packBody({ m: messagesOf(part) }), fitsInline);
    await Promise.all(
      parts.map(async (part) => {
        await this.reply('result', {}, undefined, part.body);
        if (record) for (const item of part.items) this.unsent.delete(item.key);
        // Recorded once sent: a crash before this line recomputes and sends again (the client ignores a repeat).
        if (record) await this.ctx.store.append([{ t: 'result', s: this.id, m: messagesOf(part.items) }]).catch(() => undefined);
      }),
    );
  }

  async stop(): Promise<void> {
    const t = this.transport;
    this.transport = undefined;
    await t?.close().catch(() => undefined);
  }
}

/** Result items as comm/protocol messages: one in-memory for the data, one task-erred per failure. */
function messagesOf(items: readonly ResultItem[]): Array<[SchedulerEventMessage, Uint8Array[] | null]> {
  const k: string[] = [];
  const n: number[] = [];
  const di: number[] = [];
  const bufs: Uint8Array[] = [];
  const out: Array<[SchedulerEventMessage, Uint8Array[] | null]> = [];
  for (const item of items) {
    if (item.kind === 'err') {
      out.push([item.event, null]);
      continue;
    }
    k.push(item.key);
    n.push(item.nbytes);
    di.push(bufs.push(item.data) - 1);
  }
  if (k.length > 0) out.unshift([{ op: 'in-memory', k, n, di }, bufs]);
  return out;
}

function itemsOf(messages: ReadonlyArray<[SchedulerEventMessage, Uint8Array[] | null]>): ResultItem[] {
  const out: ResultItem[] = [];
  for (const [m, bufs] of messages) {
    if (m.op === 'in-memory') {
      for (let i = 0; i < m.k.length; i++) {
        const data = bufs?.[m.di[i] as number];
        if (data) out.push({ key: m.k[i] as string, kind: 'mem', nbytes: m.n[i] as number, data });
      }
    } else if (m.op === 'task-erred') out.push({ key: m.key, kind: 'err', event: m });
  }
  return out;
}
