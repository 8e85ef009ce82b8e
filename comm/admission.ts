import type { Socket } from 'node:net';
import { getNumber, type Env } from '../shared/core/env.ts';
import { ValidationError } from '../shared/core/errors.ts';
import type { Logger } from '../shared/core/logger.ts';

/**
 * Admission control for connections that have not authenticated yet.
 *
 * Before the token is checked a peer costs a file descriptor, a timer and a
 * small decoder; without a bound, a few thousand idle sockets exhaust the
 * scheduler's descriptors (issue 18 #6). Each listener therefore keeps:
 * - a cap on pending (unauthenticated) connections;
 * - a token bucket on the accept rate;
 * - a short deadline for sockets that send nothing, and the full handshake deadline;
 * and counts refusals, logged as one summary line per interval, never one line
 * per refusal (a flood would otherwise become a log flood).
 *
 * When the cap is reached, the oldest pending socket that has not sent a byte
 * for `evictSilentAfterMs` is evicted to make room: a real peer sends its hello
 * as soon as it connects, so an idle flood cannot lock real clients and workers
 * out. A socket younger than that is never evicted: in a burst of real peers
 * (a cluster starting), all are accepted before any hello is read, and they
 * must not evict each other. Otherwise the new connection is refused (closed
 * at once); clients and workers retry with backoff.
 */

/** Connections a listener holds that have not authenticated yet. */
export const MAX_PENDING_HANDSHAKES = 256;
/** Sustained new connections per second per listener (workers joining, clients, peer fetches). */
export const ACCEPT_RATE_PER_SECOND = 200;
/** New connections allowed in one burst (a whole cluster's workers starting at once). */
export const ACCEPT_BURST = 512;
/** A socket that has sent nothing for this long is closed (a real peer sends its hello at once). */
export const SILENT_TIMEOUT_MS = 2_000;
/** A silent pending socket may be evicted for a newcomer once it is this old. */
export const EVICT_SILENT_AFTER_MS = 500;
/** A peer must finish the handshake within this time. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** At most one refusal summary line per this interval. */
export const ADMISSION_LOG_INTERVAL_MS = 10_000;

export interface AdmissionLimits {
  maxPending: number;
  acceptRatePerSecond: number;
  acceptBurst: number;
  silentTimeoutMs: number;
  evictSilentAfterMs: number;
  handshakeTimeoutMs: number;
  logIntervalMs: number;
}

export const DEFAULT_ADMISSION_LIMITS: Readonly<AdmissionLimits> = Object.freeze({
  maxPending: MAX_PENDING_HANDSHAKES,
  acceptRatePerSecond: ACCEPT_RATE_PER_SECOND,
  acceptBurst: ACCEPT_BURST,
  silentTimeoutMs: SILENT_TIMEOUT_MS,
  evictSilentAfterMs: EVICT_SILENT_AFTER_MS,
  handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
  logIntervalMs: ADMISSION_LOG_INTERVAL_MS,
});

/** Defaults overlaid with `overrides`; every value must be a positive number (a typed error names each bad field). */
export function admissionLimits(overrides: Partial<AdmissionLimits> = {}): AdmissionLimits {
  const limits = { ...DEFAULT_ADMISSION_LIMITS, ...overrides };
  const problems = Object.entries(limits)
    .filter(([, v]) => typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    .map(([k, v]) => ({ path: `admission.${k}`, message: `expected a positive number, got ${JSON.stringify(v)}` }));
  if (problems.length > 0) throw new ValidationError('invalid connection admission limits', problems);
  const order = [
    ...(limits.silentTimeoutMs > limits.handshakeTimeoutMs ? [{ path: 'admission.silentTimeoutMs', message: 'expected at most handshakeTimeoutMs' }] : []),
    ...(limits.evictSilentAfterMs > limits.silentTimeoutMs ? [{ path: 'admission.evictSilentAfterMs', message: 'expected at most silentTimeoutMs' }] : []),
  ];
  if (order.length > 0) throw new ValidationError('invalid connection admission limits', order);
  return limits;
}

/** Environment variables an operator can set on a scheduler, one per limit. */
export const ADMISSION_ENV: Readonly<Record<keyof AdmissionLimits, string>> = Object.freeze({
  maxPending: 'RECC_MAX_PENDING_CONNECTIONS',
  acceptRatePerSecond: 'RECC_ACCEPT_RATE_PER_SECOND',
  acceptBurst: 'RECC_ACCEPT_BURST',
  silentTimeoutMs: 'RECC_SILENT_CONNECTION_TIMEOUT_MS',
  evictSilentAfterMs: 'RECC_EVICT_SILENT_CONNECTION_AFTER_MS',
  handshakeTimeoutMs: 'RECC_HANDSHAKE_TIMEOUT_MS',
  logIntervalMs: 'RECC_ADMISSION_LOG_INTERVAL_MS',
});

/** The limits set in `env` (unset ones keep their defaults), checked like any override. */
export function admissionFromEnv(env: Env): Partial<AdmissionLimits> {
  const out: Partial<AdmissionLimits> = {};
  for (const [field, name] of Object.entries(ADMISSION_ENV) as Array<[keyof AdmissionLimits, string]>) {
    if (env[name]?.trim()) out[field] = getNumber(env, name);
  }
  try {
    admissionLimits(out);
  } catch (err) {
    // Name the variable the operator set, not the internal field.
    const byPath = new Map(Object.entries(ADMISSION_ENV).map(([field, name]) => [`admission.${field}`, name]));
    const details = (err as ValidationError).details.map((d) => ({ ...d, path: byPath.get(d.path) ?? d.path }));
    throw new ValidationError('invalid connection admission limits in the environment', details, { cause: err });
  }
  return out;
}

/** Classic token bucket: `burst` tokens, refilled at `ratePerSecond`. Clock injected for tests. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Why an unauthenticated connection ended; each is a counter in the summary line. */
export type RefusalReason = 'refusedRate' | 'refusedPendingCap' | 'evictedSilent' | 'closedSilent' | 'closedTimeout' | 'closedMalformed' | 'refusedBadToken' | 'refusedTls';

interface PendingEntry {
  socket: Socket;
  heard: boolean;
  admittedAt: number;
}

/** One listener's admission state. `admit` runs first for every accepted TCP connection. */
export class AdmissionControl {
  readonly limits: AdmissionLimits;
  private readonly bucket: TokenBucket;
  /** Insertion order is age order: eviction scans from the oldest. */
  private readonly pending = new Map<string, PendingEntry>();
  private counts = new Map<RefusalReason, number>();
  private lastPeer: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  listener = '';

  constructor(
    overrides: Partial<AdmissionLimits>,
    private readonly logger: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.limits = admissionLimits(overrides);
    this.bucket = new TokenBucket(this.limits.acceptRatePerSecond, this.limits.acceptBurst, now);
  }

  /** Pending (unauthenticated) connections now. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Decide on a new TCP connection before anything is allocated for it.
   * Refused sockets are destroyed here. Admitted ones hold a slot until
   * `authenticated` or their close.
   */
  admit(socket: Socket): boolean {
    const key = peerKey(socket);
    if (!this.bucket.take()) return this.drop(socket, 'refusedRate', key);
    if (this.pending.size >= this.limits.maxPending && !this.evictOldestSilent()) return this.drop(socket, 'refusedPendingCap', key);
    this.pending.set(key, { socket, heard: false, admittedAt: this.now() });
    socket.once('close', () => {
      if (this.pending.get(key)?.socket === socket) this.pending.delete(key);
    });
    return true;
  }

  /**
   * `raw`'s connection goes on as `socket` (its handle re-wrapped: comm/handshake.ts readDirect): its slot,
   * eviction and close now follow the new socket.
   */
  replace(raw: Socket, socket: Socket): void {
    // The new socket's key: `raw` no longer has a handle to ask (the two name the same peer).
    const key = peerKey(socket);
    const entry = this.pending.get(key);
    if (!entry || entry.socket !== raw) return;
    entry.socket = socket;
    socket.once('close', () => {
      if (this.pending.get(key)?.socket === socket) this.pending.delete(key);
    });
  }

  /** The peer sent bytes: it is no longer evictable as silent. */
  heard(socket: Socket): void {
    const entry = this.pending.get(peerKey(socket));
    if (entry) entry.heard = true;
  }

  /** The peer authenticated: its slot is free. */
  authenticated(socket: Socket): void {
    this.pending.delete(peerKey(socket));
  }

  /** Count an unauthenticated connection that ended badly (summarised, not logged one by one). */
  count(reason: RefusalReason, peer?: string): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
    if (peer) this.lastPeer = peer;
  }

  start(): void {
    this.timer = setInterval(() => this.flush(), this.limits.logIntervalMs);
    this.timer.unref();
  }

  /** Log what was counted since the last line (nothing when nothing happened). */
  flush(): void {
    if (this.counts.size === 0) return;
    const counts = Object.fromEntries(this.counts);
    this.counts = new Map();
    this.logger.warn('unauthenticated connections refused or closed', {
      event: 'comm.admission',
      listener: this.listener,
      intervalMs: this.limits.logIntervalMs,
      pending: this.pending.size,
      maxPending: this.limits.maxPending,
      ...counts,
      ...(this.lastPeer ? { lastPeer: this.lastPeer } : {}),
    });
    this.lastPeer = undefined;
  }

  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }

  private drop(socket: Socket, reason: RefusalReason, peer: string): false {
    socket.destroy();
    this.count(reason, peer);
    return false;
  }

  private evictOldestSilent(): boolean {
    const cutoff = this.now() - this.limits.evictSilentAfterMs;
    for (const [key, entry] of this.pending) {
      if (entry.heard) continue;
      // Entries are in age order: once one is too young, all later ones are too.
      if (entry.admittedAt > cutoff) return false;
      this.pending.delete(key);
      entry.socket.destroy();
      this.count('evictedSilent', key);
      return true;
    }
    return false;
  }
}

/** A live connection's identity as both the raw socket and a TLS socket over it see it. */
function peerKey(socket: Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
}
