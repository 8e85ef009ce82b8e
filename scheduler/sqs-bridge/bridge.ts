import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { EnvelopeIo, type ReceivedMessage } from '../../client/sqs-transport-io.ts';
import {
  EnvelopeError, EnvelopeRefusal, decodeRequestBody, errorBody, isClusterReplyQueue, isRequestKind, readEnvelope,
  type Envelope, type RequestKind,
} from '../../comm/sqs-envelope/index.ts';
import { systemClock, type Clock } from '../../shared/core/clock.ts';
import type { Logger } from '../../shared/core/logger.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../../shared/core/retry.ts';
import { DEFAULT_COMPACTION, compactionDue, compactionShrinks, type CompactionPolicy } from './compaction.ts';
import { SqsBridgeConfigError } from './errors.ts';
import type { SqsBridgeConfig } from './config.ts';
import { openStore } from './open-store.ts';
import { ReplySender } from './replies.ts';
import { DEFAULT_DEDUP, dedupPolicyProblems, type DedupPolicy } from './seen-ids.ts';
import { BridgeSession } from './session.ts';
import type { LogSize, StoreRecord, SubmissionStore } from './store.ts';

export interface SqsBridgeOptions {
  config: SqsBridgeConfig;
  /** The scheduler this bridge relays to (its own process: loopback). */
  schedulerAddress: string;
  token: string;
  caPem?: string;
  logger: Logger;
  /** @default the store config.store names (a FileSubmissionStore in config.stateDir unless it says dynamodb) */
  store?: SubmissionStore;
  /** Concurrent long polls of the request queue (each keeps polling while what it received is handled). @default 1 */
  pollers?: number;
  /** @default 20 (SQS's maximum) */
  waitSeconds?: number;
  /** When the record is rewritten during a session. @default config.compaction, else DEFAULT_COMPACTION */
  compaction?: Partial<CompactionPolicy>;
  /** How long recorded envelope ids are remembered (at least SQS's dedup window plus the visibility timeout). @default DEFAULT_DEDUP */
  dedup?: Partial<DedupPolicy>;
  /** @default systemClock */
  clock?: Clock;
  /** How long a silent session's reply queue must stay gone before the session is ended. @default config.sessionGraceMs, else DEFAULT_SESSION_GRACE_MS */
  sessionGraceMs?: number;
}

/**
 * A session's client may die without `close`. Its reply queue then goes (the
 * client deletes it on the way out, or the harvester once the client stops
 * touching it), but a client that restarts with the same session id gets its
 * unreleased results again (resume), so a missing queue alone ends nothing.
 * A session that has sent nothing and whose reply queue has stayed gone for
 * this long is over: its record is closed and its scheduler connection
 * dropped, which releases what it held.
 */
export const DEFAULT_SESSION_GRACE_MS = 60 * 60_000;
/** Silent sessions have their reply queue checked at most this often (one GetQueueAttributes each). */
const PROBE_EVERY_MS = 60_000;

/** How long a received envelope stays invisible; extended while it is being handled. */
const VISIBILITY_SECONDS = 30;
const EXTEND_EVERY_MS = 10_000;
const PROGRESS_EVERY_MS = 5_000;
/** Envelopes handled at once (bodies up to 256 KiB inline, more through S3): the poll waits for room beyond this. */
const MAX_IN_FLIGHT = 50;
const POLL_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 100, maxMs: 5_000, factor: 2, jitter: 'equal' });

/** What happened to one envelope (for logs and tests). */
type Outcome = { ack: true; afterAck?: () => Promise<void> } | { ack: false };

/**
 * The scheduler side of the SQS route. Long-polls the cluster's request
 * queue (10 per call, several polls at once), checks each envelope, records
 * submissions durably before acknowledging them, relays them to the
 * scheduler as a TCP client per session, and sends results to each
 * session's reply queue, many per message. On start it reloads what was
 * recorded and replays it to the (restarted) scheduler.
 */
export class SqsBridge {
  private readonly io: EnvelopeIo;
  private readonly store: SubmissionStore;
  private readonly replies: ReplySender;
  private readonly sessions = new Map<string, BridgeSession>();
  private readonly inflight = new Map<string, { handle: string; since: number }>();
  /** Envelopes being handled and acknowledgements being sent (close waits for them). */
  private readonly handling = new Set<Promise<void>>();
  private acks: Array<{ m: ReceivedMessage; outcome: Outcome }> = [];
  private roomWaiters: Array<() => void> = [];
  private readonly abort = new AbortController();
  private readonly loops: Array<Promise<void>> = [];
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private recovering = false;
  /** The store as sessions see it: every append may make a compaction due. */
  private readonly sessionStore: SubmissionStore;
  private readonly compaction: CompactionPolicy;
  private compactCheck = false;
  private compacting: Promise<void> | undefined;
  /** What the last compaction kept (the next is due when the record doubles from it). */
  private afterCompaction: LogSize = { records: 0, bytes: 0 };
  private readonly dedup: DedupPolicy;
  private readonly warnedOverCap = new Set<string>();
  private readonly clock: Clock;
  private readonly sessionGraceMs: number;
  /** Counters for tests and logs. */
  readonly stats = { received: 0, duplicates: 0, refused: 0, deadLettered: 0, submissions: 0, compactions: 0, sessionsEnded: 0 };

  private constructor(
    private readonly options: SqsBridgeOptions,
    store: SubmissionStore,
  ) {
    this.io = new EnvelopeIo(options.config.route, options.config.credentials ? { credentials: options.config.credentials } : {});
    this.store = store;
    this.replies = new ReplySender(this.io, options.config.route.clusterId, options.logger);
    this.compaction = { ...DEFAULT_COMPACTION, ...options.config.compaction, ...options.compaction };
    this.dedup = { ...DEFAULT_DEDUP, ...options.config.dedup, ...options.dedup };
    this.clock = options.clock ?? systemClock;
    this.sessionGraceMs = options.sessionGraceMs ?? options.config.sessionGraceMs ?? DEFAULT_SESSION_GRACE_MS;
    this.sessionStore = {
      load: () => store.load(),
      append: (records, appendOptions) => {
        const appended = store.append(records, appendOptions);
        this.compactWhenDue();
        return appended;
      },
      compact: (records) => store.compact(records),
      size: () => store.size(),
      close: () => store.close(),
    };
  }

  static async start(options: SqsBridgeOptions): Promise<SqsBridge> {
    const problems = dedupPolicyProblems({ ...DEFAULT_DEDUP, ...options.config.dedup, ...options.dedup });
    if (problems.length > 0) throw new SqsBridgeConfigError(`invalid SQS bridge options: ${problems.map((d) => `${d.path}: ${d.message}`).join('; ')}`, problems);
    const bridge = new SqsBridge(options, options.store ?? (await openStore(options.config)));
    await bridge.recover();
    bridge.run();
    return bridge;
  }

  private get route() {
    return this.options.config.route;
  }

  /** Reload the record, compact it, and replay every live session to the scheduler. */
  private async recover(): Promise<void> {
    const records = await this.store.load();
    for (const r of records) this.sessionFor(r.s, r.t === 'submit' || r.t === 'seen' ? r.rq : undefined)?.restore(r);
    await this.store.compact(this.snapshot());
    this.afterCompaction = this.store.size();
    if (this.sessions.size === 0) return;
    this.recovering = true;
    let pending = 0;
    for (const s of this.sessions.values()) pending += s.pending;
    this.options.logger.info('reloaded accepted submissions; recomputing', { event: 'sqs-bridge.recovered', sessions: this.sessions.size, pending });
    await Promise.all(
      [...this.sessions.values()].map(async (s) => {
        void s.reply('heartbeat', { state: 'recovering', pending: s.pending });
        await s.ensureConnected();
      }),
    );
    this.recovering = false;
  }

  private sessionFor(id: string, replyQueueUrl: string | undefined): BridgeSession | undefined {
    let s = this.sessions.get(id);
    if (s || !replyQueueUrl) return s;
    s = new BridgeSession(id, replyQueueUrl, {
      schedulerAddress: this.options.schedulerAddress,
      token: this.options.token,
      ...(this.options.caPem ? { caPem: this.options.caPem } : {}),
      store: this.sessionStore,
      replies: this.replies,
      io: this.io,
      logger: this.options.logger,
      running: () => !this.stopped,
      clock: this.options.clock ?? systemClock,
      dedup: this.dedup,
    });
    this.sessions.set(id, s);
    return s;
  }

  /** What every live session still needs (synchronous: it holds the effect of every append made so far). */
  private snapshot(): StoreRecord[] {
    const kept: StoreRecord[] = [];
    for (const [id, s] of this.sessions) {
      if (s.closed) this.sessions.delete(id);
      else kept.push(...s.snapshot());
    }
    return kept;
  }

  /**
   * Checked after each append, once the caller has applied it (the next
   * turn): a long session's record is rewritten to what it still needs when
   * it has grown enough (compaction.ts). One compaction at a time; appends
   * meanwhile land after it. A failed compaction leaves the old record whole
   * and is tried again once the record has doubled again.
   */
  private compactWhenDue(): void {
    if (this.compactCheck || this.compacting || this.stopped) return;
    this.compactCheck = true;
    setImmediate(() => {
      this.compactCheck = false;
      if (this.compacting || this.stopped || !compactionDue(this.store.size(), this.afterCompaction, this.compaction)) return;
      const before = this.store.size();
      const kept = this.snapshot();
      if (!compactionShrinks(before, kept.length)) {
        this.afterCompaction = before;
        return;
      }
      const started = Date.now();
      const run = this.store
        .compact(kept)
        .then(() => {
          this.stats.compactions++;
          this.afterCompaction = this.store.size();
          // `kept`: the records the compaction wrote; `after` also counts appends made while it ran (they land after it).
          this.options.logger.info('compacted the submission record', { event: 'sqs-bridge.compacted', before, kept: kept.length, after: this.afterCompaction, sessions: this.sessions.size, ms: Date.now() - started });
        })
        .catch((err: Error) => {
          this.afterCompaction = before;
          this.options.logger.warn('compacting the submission record failed; the old record stays whole', { event: 'sqs-bridge.compact-failed', error: err.message });
        })
        .finally(() => {
          this.compacting = undefined;
          this.handling.delete(run);
        });
      this.compacting = run;
      this.handling.add(run);
    });
  }

  private run(): void {
    for (let i = 0; i < (this.options.pollers ?? 1); i++) this.loops.push(this.poll());
    const extend = setInterval(() => void this.extendVisibility(), EXTEND_EVERY_MS);
    const progress = setInterval(() => this.progress(), PROGRESS_EVERY_MS);
    extend.unref();
    progress.unref();
    this.timers.push(extend, progress);
    this.options.logger.info('SQS bridge polling', { event: 'sqs-bridge.ready', requestQueueUrl: this.route.requestQueueUrl, sessions: this.sessions.size });
  }

  /**
   * One long poll after another, without waiting for what it received to be
   * handled: each envelope is acknowledged as soon as its own outcome is
   * known (acknowledgements ready together share a DeleteMessageBatch), and
   * the next poll is already waiting meanwhile. At most MAX_IN_FLIGHT
   * envelopes are handled at once.
   */
  private async poll(): Promise<void> {
    for (let failures = 0; !this.stopped; ) {
      const room = MAX_IN_FLIGHT - this.inflight.size;
      if (room <= 0) {
        await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
        continue;
      }
      let messages: ReceivedMessage[];
      try {
        messages = await this.io.receive(this.route.requestQueueUrl, { waitSeconds: this.options.waitSeconds ?? 20, visibilitySeconds: VISIBILITY_SECONDS, signal: this.abort.signal, max: room });
        failures = 0;
      } catch (err) {
        if (this.stopped) return;
        this.options.logger.warn('receiving from the request queue failed; retrying', { event: 'sqs-bridge.receive-failed', error: (err as Error).message });
        await sleep(backoffDelay(failures++, POLL_BACKOFF));
        continue;
      }
      this.stats.received += messages.length;
      for (const m of messages) {
        this.inflight.set(m.messageId, { handle: m.receiptHandle, since: Date.now() });
        const handled: Promise<void> = this.handle(m)
          .catch((err: Error): Outcome => {
            this.options.logger.error('handling an envelope failed; it will be redelivered', { event: 'sqs-bridge.handle-failed', messageId: m.messageId, error: err.message });
            return { ack: false };
          })
          .then((outcome) => this.settle(m, outcome))
          .finally(() => this.handling.delete(handled));
        this.handling.add(handled);
      }
    }
  }

  private settle(m: ReceivedMessage, outcome: Outcome): void {
    if (!outcome.ack) {
      this.release(m);
      return;
    }
    this.acks.push({ m, outcome });
    if (this.acks.length === 1) setImmediate(() => void this.acknowledge());
  }

  /** Delete the envelopes handled since the last call (then the payloads they pointed to). */
  private async acknowledge(): Promise<void> {
    const batch = this.acks;
    this.acks = [];
    if (batch.length === 0) return;
    const acking = (async () => {
      try {
        await this.io.delete(this.route.requestQueueUrl, batch.map((a) => a.m.receiptHandle));
        // Payloads go only after the messages that point to them are gone.
        await Promise.all(batch.map(({ outcome: o }) => (o.ack && o.afterAck ? o.afterAck().catch(() => undefined) : undefined)));
      } catch (err) {
        this.options.logger.warn('acknowledging envelopes failed; they will be redelivered and deduplicated', { event: 'sqs-bridge.ack-failed', error: (err as Error).message });
      } finally {
        for (const a of batch) this.release(a.m);
      }
    })();
    this.handling.add(acking);
    await acking;
    this.handling.delete(acking);
  }

  private release(m: ReceivedMessage): void {
    this.inflight.delete(m.messageId);
    for (const wake of this.roomWaiters.splice(0)) wake();
  }

  /** Check, record and apply one envelope. Never throws: a bad envelope is answered or dead-lettered, a failure is left for redelivery. */
  private async handle(m: ReceivedMessage): Promise<Outcome> {
    let env: Envelope;
    try {
      env = readEnvelope(m.text);
    } catch (err) {
      if (!(err instanceof EnvelopeRefusal)) throw err;
      const { id, session, cluster, replyQueueUrl } = err.from;
      if (id && session && replyQueueUrl && cluster === this.route.clusterId && isClusterReplyQueue(this.route, replyQueueUrl)) {
        this.refused(err.error, m, session);
        await this.replies.send(session, replyQueueUrl, 'error', errorBody(err.error), id);
        return { ack: true };
      }
      return this.deadLetter(m, err.error);
    }
    if (env.c !== this.route.clusterId) return this.deadLetter(m, new EnvelopeError('foreign-session', 'c', `the envelope is for cluster "${env.c}", not this one`));
    if (!env.rq || !isClusterReplyQueue(this.route, env.rq)) return this.deadLetter(m, new EnvelopeError('foreign-session', 'rq', "the reply queue is not one of this cluster's sessions"));
    if (!isRequestKind(env.k)) {
      const err = new EnvelopeError('invalid-field', 'k', `"${env.k}" is a reply kind; the request queue takes ${['submit', 'cancel', 'release', 'status', 'ping', 'close'].join(', ')}`);
      this.refused(err, m, env.s);
      await this.replies.send(env.s, env.rq, 'error', errorBody(err), env.id);
      return { ack: true };
    }
    const session = this.sessionFor(env.s, env.rq) as BridgeSession;
    if (session.replyQueueUrl !== env.rq) return this.deadLetter(m, new EnvelopeError('foreign-session', 'rq', `session ${env.s} has another reply queue`));
    const kind = env.k;
    session.lastHeardAt = this.clock.now();
    session.goneSince = undefined;
    return session.serial(async (): Promise<Outcome> => {
      const afterAck = env.ptr ? () => this.io.deletePayload(env.ptr as NonNullable<Envelope['ptr']>) : undefined;
      const acked = (): Outcome => (afterAck ? { ack: true, afterAck } : { ack: true });
      if (session.seen.has(env.id)) {
        // Each copy restarts the window: a message whose delete keeps failing keeps coming back.
        session.seen.add(env.id);
        this.stats.duplicates++;
        this.options.logger.info('dropped a redelivered envelope', { event: 'sqs-bridge.duplicate', session: env.s, envelope: env.id, kind, receiveCount: m.receiveCount });
        if (kind === 'submit' || kind === 'cancel') void session.reply('accepted', { ids: [env.id] }, env.id);
        return acked();
      }
      if (session.closed && kind !== 'close') {
        const err = new EnvelopeError('foreign-session', 's', `session ${env.s} was closed`);
        this.refused(err, m, env.s);
        await session.reply('error', errorBody(err), env.id);
        return acked();
      }
      try {
        const body = await this.io.body(env);
        await this.apply(session, env, kind, body);
        return acked();
      } catch (err) {
        if (err instanceof EnvelopeError) {
          this.refused(err, m, env.s);
          await session.reply('error', errorBody(err), env.id);
          return err.problem === 'missing-payload' ? { ack: true } : acked();
        }
        this.options.logger.error('handling an envelope failed; it will be redelivered', { event: 'sqs-bridge.handle-failed', session: env.s, envelope: env.id, kind, error: (err as Error).message });
        return { ack: false };
      }
    });
  }

  private async apply(session: BridgeSession, env: Envelope, kind: RequestKind, body: Uint8Array): Promise<void> {
    switch (kind) {
      case 'submit':
        this.stats.submissions++;
        return session.submit(env, decodeRequestBody('submit', body));
      case 'cancel':
        return session.cancel(env, decodeRequestBody('cancel', body));
      case 'release':
        return session.release(env, decodeRequestBody('release', body));
      case 'status':
        return session.status(env, decodeRequestBody('status', body));
      case 'ping':
        return session.ping(env, decodeRequestBody('ping', body), this.recovering);
      case 'close':
        decodeRequestBody('close', body);
        await session.close(env);
        this.sessions.delete(session.id);
        return;
    }
  }

  private refused(err: EnvelopeError, m: ReceivedMessage, session: string): void {
    this.stats.refused++;
    this.options.logger.warn('refused an envelope', { event: 'sqs-bridge.refused', problem: err.problem, path: err.path, reason: err.message, session, messageId: m.messageId });
  }

  /** An envelope nobody can be told about: moved to the dead-letter queue with its reason (or dropped, logged, when there is none). */
  private async deadLetter(m: ReceivedMessage, err: EnvelopeError): Promise<Outcome> {
    this.stats.deadLettered++;
    this.options.logger.warn('dead-lettered an envelope', { event: 'sqs-bridge.dead-lettered', problem: err.problem, path: err.path, reason: err.message, messageId: m.messageId });
    const dlq = this.route.deadLetterQueueUrl;
    if (!dlq) return { ack: true };
    try {
      await this.io.sqs.send(
        new SendMessageCommand({
          QueueUrl: dlq,
          MessageBody: m.text && m.text.length > 0 ? m.text : '(empty)',
          MessageAttributes: { reason: { DataType: 'String', StringValue: err.message.slice(0, 1000) }, problem: { DataType: 'String', StringValue: err.problem } },
          ...(dlq.endsWith('.fifo') ? { MessageGroupId: 'refused', MessageDeduplicationId: m.messageId } : {}),
        }),
      );
      return { ack: true };
    } catch (sendErr) {
      // Left on the queue: after 5 receives the redrive policy moves it anyway.
      this.options.logger.warn('could not move an envelope to the dead-letter queue', { event: 'sqs-bridge.dead-letter-failed', error: (sendErr as Error).message });
      return { ack: false };
    }
  }

  private async extendVisibility(): Promise<void> {
    const now = Date.now();
    const due = [...this.inflight.values()].filter((f) => now - f.since >= EXTEND_EVERY_MS).map((f) => f.handle);
    if (due.length === 0) return;
    await this.io.extendVisibility(this.route.requestQueueUrl, due, VISIBILITY_SECONDS).catch((err: Error) => {
      this.options.logger.warn('extending visibility failed', { event: 'sqs-bridge.extend-failed', error: err.message });
    });
  }

  /** Sessions waiting on work hear from the bridge at least every few seconds. */
  private progress(): void {
    const now = Date.now();
    for (const s of this.sessions.values()) {
      // Idle sessions forget expired ids too (adds prune only the session they touch).
      s.seen.prune();
      if (s.seen.overCap && !this.warnedOverCap.has(s.id)) {
        this.warnedOverCap.add(s.id);
        this.options.logger.warn('a session recorded more envelope ids within the deduplication window than the cap; keeping them all', { event: 'sqs-bridge.dedup-over-cap', session: s.id, ids: s.seen.size, maxIds: this.dedup.maxIds });
      }
      const pending = s.pending;
      if (pending > 0 && now - s.lastSentAt >= PROGRESS_EVERY_MS) void s.reply('progress', { pending, done: s.done });
    }
    this.checkSilentSessions();
  }

  /** Sessions silent for a while: is their client still there (abandoned sessions: DEFAULT_SESSION_GRACE_MS)? */
  private checkSilentSessions(): void {
    const now = this.clock.now();
    const every = Math.min(PROBE_EVERY_MS, this.sessionGraceMs / 2);
    for (const s of this.sessions.values()) {
      if (s.closed || now - s.lastHeardAt < Math.min(PROBE_EVERY_MS, this.sessionGraceMs) || now - s.lastProbedAt < every) continue;
      s.lastProbedAt = now;
      const probe = this.replies.queueExists(s.replyQueueUrl).then(async (exists) => {
        if (exists !== false || s.closed || this.stopped) {
          if (exists) s.goneSince = undefined;
          return;
        }
        const at = this.clock.now();
        s.goneSince ??= at;
        if (at - s.goneSince < this.sessionGraceMs || at - s.lastHeardAt < this.sessionGraceMs) return;
        await s.serial(() => s.abandon());
        if (this.sessions.get(s.id) === s) this.sessions.delete(s.id);
        this.stats.sessionsEnded++;
        this.options.logger.info('ended a session whose client is gone (silent, reply queue deleted)', {
          event: 'sqs-bridge.session-ended',
          session: s.id,
          silentMs: at - s.lastHeardAt,
          goneMs: at - s.goneSince,
        });
      });
      this.handling.add(probe);
      void probe.finally(() => this.handling.delete(probe));
    }
  }

  /** SQS/S3 calls made so far (for the bench). */
  get calls(): Record<string, number> {
    return this.io.calls;
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    for (const t of this.timers) clearInterval(t);
    for (const wake of this.roomWaiters.splice(0)) wake();
    await Promise.allSettled(this.loops);
    while (this.handling.size > 0) await Promise.allSettled([...this.handling]);
    await this.acknowledge();
    await Promise.all([...this.sessions.values()].map((s) => s.stop()));
    this.replies.stop();
    await this.store.close();
    this.io.destroy();
  }
}
