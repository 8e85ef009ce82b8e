/**
 * The wire protocol: one table of messages per direction. Each table gives
 * the message types (`MessageOf`) and the boundary decoder (`decoder`), so a
 * renamed field fails `tsc` on the sending side and is refused, with its
 * path, on the receiving side.
 *
 * Versioning: the version travels once, in the handshake's hello
 * (`PROTOCOL_VERSION`), not in every message. A connection never changes
 * version, and the hot path (compute batches, results) should not carry or
 * check a constant thousands of times a second. A peer with another version
 * is refused at the handshake with a message naming both versions.
 */
import type { FunctionDef } from '../payload.ts';
import { schedulerStatusIssues, type SchedulerStatus } from '../../shared/engine/scheduler-status.ts';
import { ProtocolError } from '../errors.ts';
import {
  arrayOf, bool, bytes, count, describe, formatPath, fromIssues, hash, int, literal, mapOf, nullable, num, object, oneOf, optional, str, tuple,
  type Check, type Infer, type InferShape, type Issue, type Shape,
} from './check.ts';
import { compileCheck, type Predicate } from './compile.ts';

/** Bump when a message changes incompatibly; peers of another version are refused at the handshake. */
export const PROTOCOL_VERSION = 3; // 3: frame attachments start 8-byte aligned (comm/framing.ts)

// ------------------------------------------------------------ shared parts

const keys = arrayOf(str);
const requestId = count;

export const functionDefCheck: Check<FunctionDef> = oneOf(
  object({ kind: literal('inline'), name: str, source: str }),
  object({ kind: literal('module'), name: str, hash, exportName: str }),
  object({ kind: literal('command'), name: str, argv: arrayOf(str), cwd: optional(str), env: optional(mapOf(str)), allowNonZero: optional(bool) }),
  object({ kind: literal('identity'), name: str }),
);

const taskError = object({ name: str, message: str, stack: optional(str), blame: optional(str), args: optional(str) });
export type WireTaskError = Infer<typeof taskError>;

/** What a peer is told about a message it sent that broke the protocol. */
const errorNotice = object({ type: str, message: str, op: str, path: str });
export type ErrorNotice = Infer<typeof errorNotice>;

/** A shuffle task's part (shared/shuffle/types.ts). */
const shuffleTask = object({ id: str, role: literal('transfer', 'barrier', 'unpack'), i: count, n: count });
/** What a worker is told with a shuffle task: the run and, for transfers, the receivers. */
const shuffleAssignment = object({ id: str, role: literal('transfer', 'barrier', 'unpack'), i: count, n: count, run: count, workers: keys });
export type WireShuffleAssignment = Infer<typeof shuffleAssignment>;

/** One task of an `update-graph`: a record (msgpack sends its field names once per connection). */
const wireTask = object({
  key: str,
  /** Function id (its definition travels once, in `fns`). */
  fn: str,
  /** msgpack-encoded arguments. */
  args: bytes,
  deps: keys,
  resources: nullable(mapOf(num)),
  retries: count,
  shuffle: optional(shuffleTask),
  /** Further function ids the function calls (a table operation's module user functions): their definitions go to the worker with it. */
  uses: optional(keys),
});
export type WireTask = Infer<typeof wireTask>;

const depLocation = object({ key: str, nbytes: count, who: keys });
export type WireDepLocation = Infer<typeof depLocation>;

const workerMetrics = {
  rss: num,
  managed: num,
  spilled: num,
  executing: count,
  ready: count,
  paused: bool,
  inlineRuns: optional(count),
  /** Idle pooled receive memory (comm/buffer-pool.ts): part of rss that holds no result. */
  receiveIdle: optional(num),
  /** Large frames received into reused memory so far. */
  receiveReused: optional(count),
  /** Shuffle shards written to disk so far (worker/shuffle-buffer.ts). */
  shuffleSpilled: optional(num),
  /** CPU the process used since the previous heartbeat, in cores (process.cpuUsage: user + system). */
  cpu: optional(num),
  /** Cores this worker may use (its cgroup quota, else the machine's CPUs). */
  cpuLimit: optional(num),
  /** Bytes of dependencies fetched from peers so far. */
  transferBytes: optional(num),
  /** Bytes of shuffle shards pushed to receivers so far. */
  shuffleBytes: optional(num),
};

const storyEntry = object({ key: str, from: str, to: str, stimulusId: str, time: num });
export type StoryEntry = Infer<typeof storyEntry>;

const workerInfo = object({
  address: str,
  name: str,
  nthreads: count,
  resources: mapOf(num),
  memoryLimit: nullable(num),
  pid: nullable(int),
  processing: count,
  stored: count,
  metrics: mapOf(oneOf(num, bool)),
});
export type WorkerInfo = Infer<typeof workerInfo>;

// ------------------------------------------------------------ the tables

const error = { error: errorNotice };

export const clientToScheduler = {
  'update-graph': { tasks: arrayOf(wireTask), wants: keys, fns: arrayOf(tuple(str, functionDefCheck)) },
  /** The module's code travels as the message's one buffer. */
  'upload-module': { hash },
  'register-plugin': { id: requestId, hash, name: str },
  'release-keys': { keys },
  cancel: { keys },
  'who-has': { id: requestId, keys },
  info: { id: requestId },
  'task-states': { id: requestId, keys },
  story: { id: requestId, key: str },
  error,
} satisfies Record<string, Shape>;

/** The fields of each request's reply (besides `op: 'reply'` and `id`). */
export const replies = {
  'register-plugin': {},
  'who-has': { who: arrayOf(tuple(str, keys)) },
  info: { status: fromIssues<SchedulerStatus>('a scheduler status', schedulerStatusIssues), workers: arrayOf(workerInfo) },
  'task-states': { states: keys },
  story: { story: arrayOf(storyEntry) },
} satisfies Record<string, Shape>;

export const schedulerToClient = {
  /** Results as parallel arrays; `di[i]` is the index of key i's inline data among the buffers, or -1. */
  'in-memory': { k: keys, n: arrayOf(count), di: arrayOf(int) },
  'task-erred': { key: str, error: taskError },
  cancelled: { key: str },
  'lost-data': { key: str },
  /** A shuffle restarted (or gave up); `message` says why. */
  'shuffle-progress': { id: str, run: count, message: str },
  /** The answer to a request; its other fields are checked against `replies` by the requester. */
  reply: { id: requestId, error: optional(errorNotice) },
  error,
} satisfies Record<string, Shape>;

export const schedulerToWorker = {
  /**
   * Tasks as parallel arrays. `f` is one function id for the whole batch or
   * one per task; `d` is 0 when no task has dependencies, else per task 0 or
   * its dependencies; `s` is one stimulus id for the batch or one per task.
   */
  'compute-batch': {
    k: keys,
    f: oneOf(str, keys),
    a: arrayOf(bytes),
    d: oneOf(literal(0), arrayOf(oneOf(literal(0), arrayOf(depLocation)))),
    p: arrayOf(num),
    s: oneOf(str, keys),
    /** Per task 0 or its shuffle assignment; absent when no task of the batch is a shuffle's. */
    sh: optional(arrayOf(oneOf(literal(0), shuffleAssignment))),
  },
  'free-keys': { keys, s: str },
  /** Give these tasks up if no thread started them (work stealing); answered per key with `steal-response`. */
  'steal-request': { keys, s: str },
  /** Fetch these results from their holders and keep them (a retiring worker's data); each is reported as finished. */
  'acquire-replicas': { keys: arrayOf(depLocation), s: str },
  /** Drop the shards of a shuffle for runs up to `run`. */
  'shuffle-forget': { id: str, run: count },
  fns: { defs: arrayOf(tuple(str, functionDefCheck)) },
  /** The module's code travels as the message's one buffer. */
  module: { hash },
  plugin: { hash, name: str },
  close: {},
  error,
} satisfies Record<string, Shape>;

export const workerToScheduler = {
  /** Results as parallel arrays: key, stored bytes, run time (ms, -1 unknown), task thread (-1 the main thread or unknown; absent from older workers), inline data index (-1 none). */
  finished: { k: keys, n: arrayOf(count), ms: arrayOf(num), th: optional(arrayOf(int)), di: arrayOf(int) },
  'task-erred': { key: str, error: taskError },
  /**
   * Tasks given to this worker that wait for a free thread (`q`), and such
   * tasks that have now started (`st`). When the worker dies, only tasks not
   * waiting count it against themselves (allowedFailures): one queued behind
   * a task that kills its worker is innocent.
   */
  'task-queue': { q: keys, st: keys },
  'missing-data': { key: str, dep: str, from: str },
  /** The answer to `steal-request`: `released` (given up before it started) or the state the task stays in. */
  'steal-response': { key: str, state: str },
  status: { status: literal('running', 'paused') },
  /** After reconnecting: results this worker holds (`n[i]` bytes for `k[i]`), so the scheduler reuses them. */
  'held-data': { k: keys, n: arrayOf(count) },
  heartbeat: workerMetrics,
  error,
} satisfies Record<string, Shape>;

/** Peers and clients ask a worker's data port for stored results. */
export const dataRequest = {
  'get-data': { id: requestId, keys },
  /** Shards of shuffle input `input` for the receiver's outputs `parts` (buffer i is part i's shard). */
  'shuffle-push': { id: requestId, shuffle: str, run: count, input: count, parts: arrayOf(count) },
  error,
} satisfies Record<string, Shape>;

export const dataReply = {
  /** `keys[i]`'s bytes are the message's buffer i. */
  data: { id: requestId, keys, missing: keys },
  /** Shards buffered (or refused: `error`, e.g. a run already forgotten). */
  'shuffle-ack': { id: requestId, error: optional(str) },
  error,
} satisfies Record<string, Shape>;

// ------------------------------------------------------------ types

type Table = Record<string, Shape>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type MessageOf<T extends Table> = { [Op in keyof T & string]: Simplify<{ op: Op } & InferShape<T[Op]>> }[keyof T & string];

export type ClientToScheduler = MessageOf<typeof clientToScheduler>;
/** What a client receives before it matched a reply to its request (`decodeReply` does that). */
export type SchedulerToClientDecoded = MessageOf<typeof schedulerToClient>;
export type SchedulerToWorker = MessageOf<typeof schedulerToWorker>;
export type WorkerToScheduler = MessageOf<typeof workerToScheduler>;
export type DataRequest = MessageOf<typeof dataRequest>;
export type DataReply = MessageOf<typeof dataReply>;

export type RequestOp = keyof typeof replies;
export type Request<Op extends RequestOp = RequestOp> = Extract<ClientToScheduler, { op: Op }>;
/** A request as the caller writes it; the transport adds the id. */
export type RequestBody<Op extends RequestOp = RequestOp> = Omit<Request<Op>, 'id'>;
export type ReplyOf<Op extends RequestOp> = InferShape<(typeof replies)[Op]>;
export type Reply<Op extends RequestOp> = Simplify<{ op: 'reply'; id: number } & ReplyOf<Op>>;
/** A request the scheduler refused (bad message): the requester's promise rejects with a ProtocolError. */
export type ErrorReply = { op: 'reply'; id: number; error: ErrorNotice };
/** What the scheduler sends a client: replies typed by their request. */
export type SchedulerToClient = Exclude<SchedulerToClientDecoded, { op: 'reply' }> | { [Op in RequestOp]: Reply<Op> }[RequestOp] | ErrorReply;

// ------------------------------------------------------------ decoders

type Refine<T extends Table> = { [Op in keyof T & string]?: (msg: Extract<MessageOf<T>, { op: Op }>) => Issue | undefined };

/**
 * The boundary check for one direction: returns the message typed, or throws
 * a ProtocolError naming the op and the field path.
 */
export function decoder<T extends Table>(direction: string, table: T, refine: Refine<T> = {}): (raw: unknown) => MessageOf<T> {
  // Per op: the compiled predicate (compile.ts) for the common case, the checks that name the problem otherwise.
  const ops = new Map<string, { valid: Predicate; check: Check<unknown>; extra: ((m: unknown) => Issue | undefined) | undefined }>();
  const extras = refine as Record<string, ((m: unknown) => Issue | undefined) | undefined>;
  for (const [op, shape] of Object.entries(table)) {
    const check = object(shape);
    ops.set(op, { valid: compileCheck(check), check, extra: Object.hasOwn(extras, op) ? extras[op] : undefined });
  }
  const known = [...ops.keys()].join(', ');
  return (raw) => {
    const op = typeof raw === 'object' && raw !== null ? (raw as { op?: unknown }).op : undefined;
    if (typeof op !== 'string') throw new ProtocolError('?', 'op', `expected a message with a string op, got ${typeof raw === 'object' && raw !== null ? describe(op) : describe(raw)}`);
    const entry = ops.get(op);
    if (!entry) throw new ProtocolError(op, 'op', `unknown op for ${direction} messages (known: ${known})`);
    const { valid, check, extra } = entry;
    if (valid(raw) && (extra === undefined || extra(raw) === undefined)) return raw as MessageOf<T>;
    const issue = check(raw) ?? extra?.(raw);
    if (issue) throw new ProtocolError(op, formatPath(issue.path), `expected ${issue.expected}, got ${issue.got}`);
    return raw as MessageOf<T>;
  };
}

/** Parallel arrays must have the length of `k` (the first one that does not is named). */
function sameLength(msg: Record<string, unknown>, base: string, fields: string[]): Issue | undefined {
  const n = (msg[base] as unknown[]).length;
  // An indexed loop: for-of's iterator protocol is costly in the baseline tiers a fresh process runs in (compile.ts).
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as string;
    const v = msg[f];
    if (Array.isArray(v) && v.length !== n) return { path: [f], expected: `a list of ${n} (one per ${base})`, got: describe(v) };
  }
  return undefined;
}

export const decodeClientToScheduler = decoder('client → scheduler', clientToScheduler);
export const decodeSchedulerToClient = decoder('scheduler → client', schedulerToClient, {
  'in-memory': (m) => sameLength(m, 'k', ['n', 'di']),
});
export const decodeSchedulerToWorker = decoder('scheduler → worker', schedulerToWorker, {
  'compute-batch': (m) => sameLength(m, 'k', ['f', 'a', 'd', 'p', 's', 'sh']),
});
export const decodeWorkerToScheduler = decoder('worker → scheduler', workerToScheduler, {
  finished: (m) => sameLength(m, 'k', ['n', 'ms', 'th', 'di']),
  'held-data': (m) => sameLength(m, 'k', ['n']),
});
export const decodeDataRequest = decoder('data request', dataRequest, {
  'shuffle-push': (m) => (new Set(m.parts).size === m.parts.length ? undefined : { path: ['parts'], expected: 'distinct output partitions', got: 'a repeated one' }),
});
export const decodeDataReply = decoder('data reply', dataReply, {
  data: (m) => sameLength(m, 'keys', []),
});

const replyChecks = new Map(Object.entries(replies).map(([op, shape]) => [op, object(shape as Shape)]));

/** Check a reply's fields against what its request expects. */
export function decodeReply<Op extends RequestOp>(op: Op, raw: { op: 'reply'; id: number }): Reply<Op> {
  const issue = (replyChecks.get(op) as Check<unknown>)(raw);
  if (issue) throw new ProtocolError('reply', formatPath(issue.path), `expected ${issue.expected} in the reply to "${op}", got ${issue.got}`);
  return raw as unknown as Reply<Op>;
}

// ------------------------------------------------------------ encoders

/** A ProtocolError as the peer is told about it. */
export function errorNoticeOf(err: ProtocolError): ErrorNotice {
  return { type: err.type, message: err.message, op: err.op, path: err.path };
}

/** The error a requester sees when its peer refused a request. */
export function protocolErrorFromNotice(notice: ErrorNotice): ProtocolError {
  return new ProtocolError(notice.op, notice.path, `refused by the peer: ${notice.message}`);
}

/**
 * A compute batch from per-task lists: `f` and `s` collapse to one value
 * when every task shares it, and `d` to 0 when no task has dependencies, so
 * a map costs one key, one argument and one priority per task on the wire.
 */
export function computeBatch(b: { k: string[]; f: string[]; a: Uint8Array[]; d: Array<WireDepLocation[] | 0>; p: number[]; s: string[]; sh?: Array<WireShuffleAssignment | 0> }): Extract<SchedulerToWorker, { op: 'compute-batch' }> {
  const out: Extract<SchedulerToWorker, { op: 'compute-batch' }> = { op: 'compute-batch', k: b.k, f: collapse(b.f), a: b.a, d: b.d.some((x) => x !== 0) ? b.d : 0, p: b.p, s: collapse(b.s) };
  if (b.sh && b.sh.some((x) => x !== 0)) out.sh = b.sh;
  return out;
}

function collapse(values: string[]): string | string[] {
  const first = values[0];
  for (let i = 1; i < values.length; i++) if (values[i] !== first) return values;
  return first ?? values;
}

/** Per-task value of a field that is one value for the batch or one per task. */
export function perTask<T extends string>(field: T | T[], i: number): T {
  return typeof field === 'string' ? field : (field[i] as T);
}

/** The version check of a hello (scheduler and worker data port): throws a ProtocolError naming both versions. */
export function checkHelloVersion(hello: Record<string, unknown>): void {
  const v = hello.protocol;
  if (v === PROTOCOL_VERSION) return;
  throw new ProtocolError(
    'hello',
    'protocol',
    v === undefined ? `no protocol version; this peer speaks version ${PROTOCOL_VERSION}` : `protocol version ${describe(v)} is not supported; this peer speaks version ${PROTOCOL_VERSION}`,
  );
}

/** What a worker says about itself in its hello (besides role, token and protocol). */
const workerHello = object({
  name: optional(str),
  nthreads: count,
  resources: optional(mapOf(num)),
  memoryLimit: optional(nullable(num)),
  /** Its data address; absent when it listens on all interfaces (the scheduler uses the address it connects from). */
  address: optional(str),
  dataPort: optional(count),
  tls: optional(bool),
  pid: optional(nullable(int)),
});
export type WorkerHello = Infer<typeof workerHello>;

export function decodeWorkerHello(hello: Record<string, unknown>): WorkerHello {
  const issue = workerHello(hello);
  if (issue) throw new ProtocolError('hello', formatPath(issue.path), `expected ${issue.expected}, got ${issue.got}`);
  const h = hello as WorkerHello;
  if (h.nthreads < 1) throw new ProtocolError('hello', 'nthreads', `expected at least 1 thread, got ${h.nthreads}`);
  if (h.address === undefined && h.dataPort === undefined) throw new ProtocolError('hello', 'address', 'expected an address or a dataPort, got neither');
  return h;
}
