/**
 * The SQS envelope protocol: how a client outside the cluster network and the
 * scheduler's SQS bridge talk through a request queue (one per cluster, FIFO,
 * one message group per session) and a reply queue per session.
 *
 * An SQS message body is base64 of a msgpack map: a small header read first
 * (version, ids, session, kind, sequence) and the body, itself msgpack bytes,
 * either inline (`b`) or in S3 (`ptr`) when it would make the message too big.
 * The body carries the typed messages of comm/protocol (update-graph,
 * in-memory, replies…) unchanged, so the wire contract has one home; this
 * module only adds the envelope around them. The header is decoded without
 * touching the body, so a bad body still gets a typed error reply to the
 * right session.
 *
 * Pure: no AWS SDK, no sockets (the bridge and SqsTransport do the I/O).
 */
import { Packr, Unpackr } from 'msgpackr';
import {
  PROTOCOL_VERSION, decodeClientToScheduler, decodeSchedulerToClient,
  type ClientToScheduler, type ErrorNotice, type SchedulerToClientDecoded,
} from '../protocol.ts';
import { ProtocolError } from '../errors.ts';
import {
  arrayOf, bool, bytes, count, describe, formatPath, literal, nullable, object, optional, str, tuple,
  type Check, type Infer, type InferShape, type Issue, type Shape,
} from '../protocol/check.ts';
import { withCompiled } from '../protocol/compile.ts';
import { EnvelopeError } from './errors.ts';

/** Bump when the envelope changes incompatibly. Version 1 carries comm/protocol version 2 messages. */
export const ENVELOPE_VERSION = 1;
/** SQS's message limit is 256 KiB; a body whose base64 message would exceed this goes to S3 as a pointer. */
export const MAX_INLINE_MESSAGE_BYTES = 200 * 1024;
/** Bodies larger than this are refused even through S3 (a sender bug or an attack, not a graph). */
export const MAX_BODY_BYTES = 512 * 1024 * 1024;

export const REQUEST_KINDS = ['submit', 'cancel', 'release', 'status', 'ping', 'close'] as const;
export const REPLY_KINDS = ['accepted', 'progress', 'result', 'error', 'heartbeat'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];
export type ReplyKind = (typeof REPLY_KINDS)[number];
export type EnvelopeKind = RequestKind | ReplyKind;

// ------------------------------------------------------------ header

const pointer = object({ bucket: str, key: str, size: count });
export type PayloadPointer = Infer<typeof pointer>;

const headerShape = {
  /** Envelope version (ENVELOPE_VERSION). */
  v: count,
  /** comm/protocol version of the messages inside (PROTOCOL_VERSION). */
  p: count,
  /** Envelope id: unique per envelope; the FIFO deduplication id and the bridge's dedup key. */
  id: str,
  /** The cluster this envelope is for (or from). */
  c: str,
  /** The client session. */
  s: str,
  /** Sequence number per session and direction, from 1. */
  q: count,
  k: literal(...REQUEST_KINDS, ...REPLY_KINDS),
  /** Sent at (ms since the epoch), for latency figures. */
  t: count,
  /** Requests: the session's reply queue URL. */
  rq: optional(str),
  /** Replies: the id of the envelope this answers. */
  r: optional(str),
  /** The body: msgpack bytes inline… */
  b: optional(bytes),
  /** …or where it is in S3. */
  ptr: optional(pointer),
} satisfies Shape;
const headerCheck = withCompiled(object(headerShape));

export type EnvelopeHeader = Omit<InferShape<typeof headerShape>, 'k' | 'b' | 'ptr'> & { k: EnvelopeKind };
/** An envelope as read off the queue: the header checked, the body still bytes (or a pointer to them). */
export type Envelope = EnvelopeHeader & ({ b: Uint8Array; ptr?: undefined } | { ptr: PayloadPointer; b?: undefined });

// ------------------------------------------------------------ bodies

/** A comm/protocol message with its buffers (module code, inline results). */
const withBuffers = <T>(msg: Check<T>) => tuple(msg, nullable(arrayOf(bytes)));

/** Any object with a string op; the op's own decoder (comm/protocol) checks the rest. */
const anyMessage: Check<{ op: string }> = object({ op: str }) as Check<{ op: string }>;

const keys = arrayOf(str);
const statusOps = ['info', 'who-has', 'task-states', 'story', 'fetch'] as const;
export type StatusOp = (typeof statusOps)[number];

const errorNoticeCheck = object({ type: str, message: str, op: str, path: str });

export const requestBodies = {
  /**
   * update-graph, upload-module and register-plugin messages, in order;
   * `rel`: keys the client released before them (applied first), so a
   * release rides with the next submission instead of taking a turn of the
   * session's FIFO message group.
   */
  submit: { m: arrayOf(withBuffers(anyMessage)), rel: optional(keys) },
  cancel: { keys },
  release: { keys },
  /** A question answered from the scheduler's state (or `fetch`: results by key). */
  status: { op: literal(...statusOps), keys: optional(keys), key: optional(str) },
  /** Opens (or resumes) the session; answered by a heartbeat. `resume`: send again every result not yet released. */
  ping: { resume: optional(bool) },
  /** The session ends: the scheduler releases its keys and forgets it. */
  close: {},
} satisfies Record<RequestKind, Shape>;

export const replyBodies = {
  /** Envelope ids durably recorded. */
  accepted: { ids: keys },
  /** Sent while work is pending and nothing else was sent for a while. */
  progress: { pending: count, done: count },
  /** Scheduler events (in-memory with inline data, task-erred, cancelled, lost-data), a request's reply fields, or fetched data. */
  result: {
    m: optional(arrayOf(withBuffers(anyMessage))),
    reply: optional(object({})),
    data: optional(arrayOf(tuple(str, bytes))),
    missing: optional(keys),
  },
  /** The envelope `r` was refused (or failed); `problem` is the EnvelopeProblem or the error type. */
  error: { error: errorNoticeCheck, problem: str },
  heartbeat: { state: literal('ready', 'recovering'), pending: count },
} satisfies Record<ReplyKind, Shape>;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type RequestBody<K extends RequestKind = RequestKind> = Simplify<InferShape<(typeof requestBodies)[K]>>;
export type ReplyBody<K extends ReplyKind = ReplyKind> = Simplify<InferShape<(typeof replyBodies)[K]>>;

/** A submit's messages after their own protocol check. */
export type SubmitMessage = Extract<ClientToScheduler, { op: 'update-graph' | 'upload-module' | 'register-plugin' }>;
export type DecodedSubmit = { m: Array<[SubmitMessage, Uint8Array[] | null]>; rel?: string[] };
export type SchedulerEventMessage = Exclude<SchedulerToClientDecoded, { op: 'reply' }>;
export type DecodedResult = Omit<ReplyBody<'result'>, 'm' | 'reply'> & { m?: Array<[SchedulerEventMessage, Uint8Array[] | null]>; reply?: Record<string, unknown> };

export type DecodedRequestBody<K extends RequestKind> = K extends 'submit' ? DecodedSubmit : RequestBody<K>;
export type DecodedReplyBody<K extends ReplyKind> = K extends 'result' ? DecodedResult : ReplyBody<K>;

// ------------------------------------------------------------ msgpack

// Self-describing maps (no records): every envelope stands alone, whichever process reads it.
const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

function unpackMap(data: Uint8Array, path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = unpackr.unpack(data);
  } catch (err) {
    throw new EnvelopeError('undecodable', path, 'not valid msgpack', { cause: err });
  }
  // Only a plain map: msgpackr decodes some reserved bytes (0xc1) to objects of its own classes.
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw new EnvelopeError('undecodable', path, `expected a msgpack map, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

// ------------------------------------------------------------ reading

/** Fields a refused envelope may still tell about itself, so its sender can be told why. */
export interface ReplyAddress {
  id: string;
  session: string;
  cluster: string;
  replyQueueUrl: string;
}

/** An EnvelopeError plus what the header said about the sender (when it could be read). */
export class EnvelopeRefusal {
  constructor(
    readonly error: EnvelopeError,
    readonly from: Partial<ReplyAddress>,
  ) {}
}

/**
 * Read an SQS message body: base64 → msgpack → checked header. Throws an
 * EnvelopeRefusal: `undecodable` (nothing usable), `unsupported-version`
 * (with the sender's address when the header has one) or `invalid-field`.
 */
export function readEnvelope(text: string | undefined): Envelope {
  if (typeof text !== 'string' || text.length === 0) throw new EnvelopeRefusal(new EnvelopeError('undecodable', '', 'empty message body'), {});
  if (text.length % 4 !== 0 || !BASE64.test(text)) throw new EnvelopeRefusal(new EnvelopeError('undecodable', '', 'the message body is not base64'), {});
  let raw: Record<string, unknown>;
  try {
    raw = unpackMap(Buffer.from(text, 'base64'), '');
  } catch (err) {
    throw new EnvelopeRefusal(err as EnvelopeError, {});
  }
  const from = addressOf(raw);
  if (raw.v !== ENVELOPE_VERSION || raw.p !== PROTOCOL_VERSION) {
    const which = raw.v !== ENVELOPE_VERSION ? 'v' : 'p';
    const speaks = which === 'v' ? ENVELOPE_VERSION : PROTOCOL_VERSION;
    throw new EnvelopeRefusal(
      new EnvelopeError('unsupported-version', which, `${which === 'v' ? 'envelope' : 'protocol'} version ${describe(raw[which])} is not supported; this side speaks version ${speaks}`),
      from,
    );
  }
  const issue = headerCheck(raw);
  if (issue) throw new EnvelopeRefusal(new EnvelopeError('invalid-field', formatPath(issue.path), `expected ${issue.expected}, got ${issue.got}`), from);
  const hasBody = raw.b !== undefined;
  const hasPointer = raw.ptr !== undefined;
  if (hasBody === hasPointer) {
    throw new EnvelopeRefusal(new EnvelopeError('invalid-field', 'b', hasBody ? 'an envelope has a body or a pointer, not both' : 'expected a body (b) or a pointer (ptr), got neither'), from);
  }
  const isRequest = (REQUEST_KINDS as readonly string[]).includes(raw.k as string);
  if (isRequest && typeof raw.rq !== 'string') throw new EnvelopeRefusal(new EnvelopeError('invalid-field', 'rq', 'a request needs its reply queue URL'), from);
  if (hasPointer && (raw.ptr as PayloadPointer).size > MAX_BODY_BYTES) {
    throw new EnvelopeRefusal(new EnvelopeError('too-large', 'ptr.size', `the body is ${(raw.ptr as PayloadPointer).size} bytes; the limit is ${MAX_BODY_BYTES}`), from);
  }
  return raw as unknown as Envelope;
}

function addressOf(raw: Record<string, unknown>): Partial<ReplyAddress> {
  const out: Partial<ReplyAddress> = {};
  if (typeof raw.id === 'string') out.id = raw.id;
  if (typeof raw.s === 'string') out.session = raw.s;
  if (typeof raw.c === 'string') out.cluster = raw.c;
  if (typeof raw.rq === 'string') out.replyQueueUrl = raw.rq;
  return out;
}

const requestChecks = new Map(Object.entries(requestBodies).map(([k, shape]) => [k, withCompiled(object(shape as Shape))]));
const replyChecks = new Map(Object.entries(replyBodies).map(([k, shape]) => [k, withCompiled(object(shape as Shape))]));
const SUBMIT_OPS = new Set(['update-graph', 'upload-module', 'register-plugin']);

function checked(check: (value: unknown) => Issue | undefined, body: Record<string, unknown>): void {
  const issue = check(body);
  if (issue) throw new EnvelopeError('invalid-field', formatPath(['b', ...issue.path]), `expected ${issue.expected}, got ${issue.got}`);
}

/** Decode and check a request body (msgpack bytes, inline or fetched from S3). Throws EnvelopeError naming the path. */
export function decodeRequestBody<K extends RequestKind>(kind: K, data: Uint8Array): DecodedRequestBody<K> {
  const body = unpackMap(data, 'b');
  checked(requestChecks.get(kind) as (value: unknown) => Issue | undefined, body);
  if (kind === 'submit') {
    (body.m as Array<[{ op: string }, unknown]>).forEach(([msg], i) => {
      if (!SUBMIT_OPS.has(msg.op)) throw new EnvelopeError('invalid-field', `b.m[${i}][0].op`, `expected update-graph, upload-module or register-plugin, got "${msg.op}"`);
      protocolChecked(() => decodeClientToScheduler(msg), `b.m[${i}][0]`);
    });
  }
  if (kind === 'status') {
    const op = body.op as StatusOp;
    if ((op === 'who-has' || op === 'task-states' || op === 'fetch') && body.keys === undefined) throw new EnvelopeError('invalid-field', 'b.keys', `"${op}" needs keys`);
    if (op === 'story' && body.key === undefined) throw new EnvelopeError('invalid-field', 'b.key', '"story" needs a key');
  }
  return body as DecodedRequestBody<K>;
}

/** Decode and check a reply body. Throws EnvelopeError naming the path. */
export function decodeReplyBody<K extends ReplyKind>(kind: K, data: Uint8Array): DecodedReplyBody<K> {
  const body = unpackMap(data, 'b');
  checked(replyChecks.get(kind) as (value: unknown) => Issue | undefined, body);
  if (kind === 'result' && body.m !== undefined) {
    (body.m as Array<[{ op: string }, unknown]>).forEach(([msg], i) => {
      if (msg.op === 'reply') throw new EnvelopeError('invalid-field', `b.m[${i}][0].op`, 'replies travel in b.reply, not among the events');
      protocolChecked(() => decodeSchedulerToClient(msg), `b.m[${i}][0]`);
    });
  }
  return body as DecodedReplyBody<K>;
}

function protocolChecked(fn: () => unknown, prefix: string): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    const path = err.path ? `${prefix}.${err.path}` : prefix;
    throw new EnvelopeError('invalid-field', path, (err.details[0]?.message ?? err.message), { cause: err });
  }
}

// ------------------------------------------------------------ writing

export interface OutgoingHeader {
  id: string;
  cluster: string;
  session: string;
  seq: number;
  kind: EnvelopeKind;
  replyQueueUrl?: string;
  correlation?: string;
  /** @default Date.now() */
  sentAt?: number;
}

/** Pack a body (a request or reply body as its table describes it). */
export function packBody(body: object): Buffer {
  return packr.pack(body);
}

function header(h: OutgoingHeader): Record<string, unknown> {
  return {
    v: ENVELOPE_VERSION,
    p: PROTOCOL_VERSION,
    id: h.id,
    c: h.cluster,
    s: h.session,
    q: h.seq,
    k: h.kind,
    t: h.sentAt ?? Date.now(),
    ...(h.replyQueueUrl !== undefined ? { rq: h.replyQueueUrl } : {}),
    ...(h.correlation !== undefined ? { r: h.correlation } : {}),
  };
}

/** The SQS body of an envelope whose body travels inline. */
export function encodeInline(h: OutgoingHeader, body: Uint8Array): string {
  return packr.pack({ ...header(h), b: body }).toString('base64');
}

/** The SQS body of an envelope whose body is in S3. */
export function encodePointer(h: OutgoingHeader, ptr: PayloadPointer): string {
  return packr.pack({ ...header(h), ptr }).toString('base64');
}

/** Base64 length of an inline envelope with a body of `bodyBytes` (the header is small and bounded). */
export function inlineMessageBytes(bodyBytes: number, h: OutgoingHeader): number {
  const headerBytes = 64 + h.id.length + h.cluster.length + h.session.length + (h.replyQueueUrl?.length ?? 0) + (h.correlation?.length ?? 0);
  return Math.ceil((bodyBytes + headerBytes + 8) / 3) * 4;
}

/** Whether a body of this size must travel through S3. */
export function needsPointer(bodyBytes: number, h: OutgoingHeader): boolean {
  return inlineMessageBytes(bodyBytes, h) > MAX_INLINE_MESSAGE_BYTES;
}

/** The error body telling a sender why its envelope was refused. */
export function errorBody(err: { type: string; message: string; problem?: string; path?: string }, op = ''): ReplyBody<'error'> {
  return { error: { type: err.type, message: err.message, op, path: err.path ?? '' } satisfies ErrorNotice, problem: err.problem ?? err.type };
}

export function isRequestKind(kind: EnvelopeKind): kind is RequestKind {
  return (REQUEST_KINDS as readonly string[]).includes(kind);
}
