import { createHash, randomBytes } from 'node:crypto';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { decodeValue, type FunctionDef } from '../comm/payload.ts';
import type { ClientToScheduler, StoryEntry, WireTask, WorkerInfo } from '../comm/protocol.ts';
import { ValidationError } from '../shared/core/errors.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../shared/core/retry.ts';
import type { SchedulerStatus } from '../shared/engine/scheduler-status.ts';
import type { TaskErrorInfo } from '../shared/engine/task-error.ts';
import type { ClusterLike } from './cluster-like.ts';
import { Delayed, encodeArgs, tokenize, type TaskOptions } from './delayed.ts';
import { distance } from 'fastest-levenshtein';
import { defaultClient, registerClient, unregisterClient } from './default-client.ts';
import { CancelledError, ClientClosedError, ModuleBundleError, taskErrorFrom } from './errors.ts';
import { functionRef, identityRef, ModuleHandle, type FunctionRef, type TaskFunction } from './functions.ts';
import { Future, type FutureStatus } from './future.ts';
import type { ClientTransport, SchedulerEvent } from './transport.ts';
import { connectTransport, type TransportChoice } from './sqs-transport-select.ts';
import type { SqsRoute } from '../comm/sqs-envelope/route.ts';
import type { Table as ArrowTable } from 'apache-arrow';
import type { DatasetReadOptions } from '../adapters/datastores/dataset.ts';
import type { DatasetStoreRef } from './datasets.ts';
import { fromArrowTable, fromPartitionFutures, type DistributedTable, type FromPartitionsOptions, type FromTableOptions } from './tables/table.ts';
import { soon } from '../shared/core/soon.ts';
import { arrowPatches } from './arrow-patches.ts';

export interface ConnectOptions {
  token?: string;
  caPem?: string;
  /**
   * The route to the scheduler: `'tcp'` (direct), `'sqs'` (the cluster's
   * request queue, for clients outside its network), `'auto'` (TCP, falling
   * back to SQS when the address does not answer within a few seconds), or a
   * ready transport. @default RECC_TRANSPORT, else `'auto'` when the cluster
   * has an SQS route and `'tcp'` otherwise
   */
  transport?: ClientTransport | TransportChoice;
  /** The SQS route when the target does not carry one (`cluster.sqsRoute`). */
  sqsRoute?: SqsRoute;
  /** Over SQS: resume this session (results not yet released are sent again). */
  session?: string;
  /** How long `'auto'` waits for TCP before taking SQS. @default 5000 */
  tcpTimeoutMs?: number;
  /** Where the route taken (and pauses on the SQS route) are told. @default a line on stderr */
  onNotice?: (line: string) => void;
}

/** Between fetches of a result lost with its worker, while it is recomputed. */
const REFETCH_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 20, maxMs: 1_000, factor: 2, jitter: 'equal' });

/** Tasks per update-graph frame; larger graphs stream in chunks. */
const GRAPH_CHUNK = 20_000;

interface KeyState {
  status: FutureStatus;
  refs: number;
  data: Buffer | undefined;
  error: TaskErrorInfo | undefined;
  /** NO_WAITERS (shared, never pushed to) until something waits: most keys of a map are only gathered. */
  waiters: Array<{ resolve: () => void; reject: (e: Error) => void }>;
  /** Operations awaiting this key (result, wait, gather, asCompleted…); the key is kept while any runs. */
  holds: number;
  /** Stored size of the result on its worker, once finished. */
  nbytes: number;
}

/** Something long-running the scheduler tells clients about (a shuffle restarting after a worker was lost). */
export interface ProgressEvent {
  kind: 'shuffle';
  /** The shuffle's id. */
  id: string;
  run: number;
  message: string;
}

/** One operation awaiting futures: holds them, and counts once in each of their keys' `holds`. */
const NO_WAITERS: KeyState['waiters'] = [];

interface AwaitHold {
  futures: readonly Future[];
  /** The held keys and their states, as parallel lists (no pair per future: a gather holds thousands). */
  keys: string[];
  states: KeyState[];
}

export type { StoryEntry, WorkerInfo } from '../comm/protocol.ts';

/**
 * The recc client: submit work to a cluster's scheduler and collect results.
 *
 * ```ts
 * await using cluster = await LocalCluster.start({ nWorkers: 2 });
 * await using client = await Client.connect(cluster);
 * const squares = await client.gather(client.map((x: number) => x * x, [1, 2, 3]));
 * ```
 */
export class Client {
  private readonly keys = new Map<string, KeyState>();
  private readonly sentFns = new Set<string>();
  private readonly uploaded = new Set<string>();
  private releaseQueue: string[] = [];
  private outbox: Array<{ msg: ClientToScheduler; bufs?: readonly Buffer[] | undefined; weight: number }> = [];
  private pumping = false;
  private sentWaiters: Array<() => void> = [];
  private releaseScheduled = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly registry = new FinalizationRegistry<string>((key) => this.dropRef(key));
  /**
   * Futures being awaited, held strongly: a future is often reachable only
   * through the promise its caller awaits (`await client.submit(f, x).result()`),
   * and must not be collected, and its key released, while that runs.
   */
  private readonly awaited = new Set<AwaitHold>();
  /** `pure: false` keys: a random per-client prefix plus a counter (unique without a random draw per task). */
  private readonly keyPrefix = randomBytes(8).toString('hex');
  private keyCounter = 0;
  private readonly progressListeners = new Set<(event: ProgressEvent) => void>();
  /**
   * The live dashboard of the cluster this client connected to (undefined when
   * connected by address or started without one). It asks for the cluster
   * token: open `${dashboardUrl}/?token=…` once and the token is swapped for an
   * HttpOnly cookie and dropped from the address bar.
   */
  dashboardUrl: string | undefined;

  private constructor(
    private readonly transport: ClientTransport,
    readonly schedulerAddress: string,
  ) {
    transport.onMessage((msg, bufs) => this.onMessage(msg, bufs));
    transport.onClose((err) => this.onLost(err));
    registerClient(this);
  }

  /** Connect to a cluster (LocalCluster, ReccCluster, …) or to `tcp://host:port` with `{ token }`. */
  static async connect(target: ClusterLike | string, options: ConnectOptions = {}): Promise<Client> {
    const address = typeof target === 'string' ? target : target.schedulerAddress;
    const token = options.token ?? (typeof target === 'string' ? undefined : target.token);
    const caPem = options.caPem ?? (typeof target === 'string' ? undefined : target.caPem);
    if (options.transport && typeof options.transport === 'object') return new Client(options.transport, address);
    const sqsRoute = options.sqsRoute ?? (typeof target === 'string' ? undefined : target.sqsRoute);
    const { transport } = await connectTransport({
      address,
      token,
      caPem,
      route: sqsRoute,
      choice: options.transport,
      ...(options.tcpTimeoutMs !== undefined ? { tcpTimeoutMs: options.tcpTimeoutMs } : {}),
      ...(options.onNotice ? { say: options.onNotice } : {}),
      sqs: { ...(options.session ? { session: options.session } : {}), ...(options.onNotice ? { onNotice: options.onNotice } : {}) },
    });
    const client = new Client(transport, address);
    client.dashboardUrl = typeof target === 'string' ? undefined : target.dashboardUrl;
    return client;
  }

  get id(): string {
    return this.transport.clientId;
  }

  // ------------------------------------------------------------- submitting

  /** Run `fn(...args)` on the cluster. Arguments may contain futures (their results are passed in). */
  submit<A extends unknown[], R>(fn: ((...args: A) => R) | TaskFunction, ...args: unknown[]): Future<Awaited<R>> {
    return this.submitWith({}, fn as TaskFunction, ...args) as Future<Awaited<R>>;
  }

  /** `submit` with options: `{ resources: { GPU: 1 }, retries: 2, pure: false, key }`. */
  submitWith<R = unknown>(options: TaskOptions, fn: TaskFunction, ...args: unknown[]): Future<R> {
    this.assertOpen();
    return this.submitRef<R>(functionRef(fn), options, args);
  }

  private submitRef<R>(ref: FunctionRef, options: TaskOptions, args: unknown[]): Future<R> {
    const enc = encodeArgs(args);
    const key = options.key ?? (options.pure === false ? this.uniqueKey(ref) : `${ref.name}-${tokenize(ref, enc.bytes, options.resources)}`);
    const tasks: WireTask[] = [];
    const fns: Array<[string, FunctionDef]> = [];
    for (const d of enc.delayed) this.collectDelayed(d, tasks, fns);
    this.addFn(ref, fns);
    const future = new Future<R>(key, this);
    if (this.keys.get(key)?.refs === 1) {
      tasks.push(wireTask(key, ref.id, enc.bytes, enc.deps, options.resources, options.retries));
      this.post({ op: 'update-graph', tasks, wants: [key], fns }, undefined, tasks.length);
    } else if (tasks.length > 0) {
      this.post({ op: 'update-graph', tasks, wants: [], fns }, undefined, tasks.length);
    }
    return future;
  }

  /**
   * One task per item, sent in one message. Items may be futures or delayed
   * values (their results are passed in). With several iterables, as in Dask,
   * task i gets the i-th item of each (`map(f, xs, ys)` calls `f(xs[i], ys[i])`);
   * they must have the same length. Options, if any, come last as a plain
   * object with only the keys `resources`, `retries` and `pure`; anything else
   * is refused (a ValidationError naming each problem).
   */
  map<T, R>(fn: ((item: T) => R) | TaskFunction, items: Iterable<MapItem<T>>, options?: MapOptions): Array<Future<Awaited<R>>>;
  map<T1, T2, R>(fn: ((a: T1, b: T2) => R) | TaskFunction, a: Iterable<MapItem<T1>>, b: Iterable<MapItem<T2>>, options?: MapOptions): Array<Future<Awaited<R>>>;
  map<T1, T2, T3, R>(
    fn: ((a: T1, b: T2, c: T3) => R) | TaskFunction,
    a: Iterable<MapItem<T1>>,
    b: Iterable<MapItem<T2>>,
    c: Iterable<MapItem<T3>>,
    options?: MapOptions,
  ): Array<Future<Awaited<R>>>;
  map<R>(fn: ((...args: any[]) => R) | TaskFunction, ...iterablesThenOptions: Array<Iterable<unknown> | MapOptions>): Array<Future<Awaited<R>>>;
  map<R>(fn: ((...args: any[]) => R) | TaskFunction, ...rest: unknown[]): Array<Future<Awaited<R>>> {
    const { iterables, options } = parseMapArguments(rest);
    if (iterables.length === 1) return this.mapRows<R>(fn, iterables[0] as Iterable<unknown>, options, false);
    const columns = iterables.map((it) => [...it]);
    const lengths = columns.map((c) => c.length);
    if (new Set(lengths).size > 1) {
      throw new ValidationError(`map: the iterables must have the same length, got ${lengths.join(', ')}`, lengths.map((n, i) => ({ path: `iterables[${i}]`, message: `${n} items` })));
    }
    const rows = (columns[0] as unknown[]).map((_, i) => columns.map((c) => c[i]));
    return this.mapRows<R>(fn, rows, options, true);
  }

  /** One task per row; `spread` rows are argument lists (several iterables), otherwise each item is the one argument. */
  private mapRows<R>(fn: ((...args: any[]) => R) | TaskFunction, items: Iterable<unknown>, options: MapOptions, spread: boolean): Array<Future<Awaited<R>>> {
    this.assertOpen();
    const ref = functionRef(fn as TaskFunction);
    const fns: Array<[string, FunctionDef]> = [];
    this.addFn(ref, fns);
    const tasks: WireTask[] = [];
    const wants: string[] = [];
    const futures: Array<Future<Awaited<R>>> = [];
    const resources = options.resources;
    const retries = options.retries;
    let index = 0;
    try {
      for (const item of items) {
        // On failure, encode again with the item's index so the error names `items[i]`.
        let enc: ReturnType<typeof encodeArgs>;
        try {
          enc = encodeArgs(spread ? (item as unknown[]) : [item]);
        } catch {
          enc = encodeArgs(spread ? (item as unknown[]) : [item], [`items[${index}]`]);
        }
        index++;
        for (const d of enc.delayed) this.collectDelayed(d, tasks, fns);
        const key = options.pure === false ? this.uniqueKey(ref) : `${ref.name}-${tokenize(ref, enc.bytes, options.resources)}`;
        const future = new Future<Awaited<R>>(key, this);
        futures.push(future);
        if (this.keys.get(key)?.refs === 1) {
          tasks.push(wireTask(key, ref.id, enc.bytes, enc.deps, resources, retries));
          wants.push(key);
        }
      }
    } catch (err) {
      // Nothing was sent: the functions count as unsent and the futures made so far go.
      for (const [id] of fns) this.sentFns.delete(id);
      for (const f of futures) f.release();
      throw err;
    }
    // Items are independent unless they embed delayed values (whose nodes precede them).
    const independent = tasks.length === wants.length;
    if (tasks.length > 0 || wants.length > 0) this.postGraph(tasks, wants, fns, independent);
    return futures;
  }

  /** Submit a delayed graph; returns a future for each value given. */
  compute<T>(value: Delayed<T>): Future<T>;
  compute<T>(values: ReadonlyArray<Delayed<T>>): Array<Future<T>>;
  compute<T>(value: Delayed<T> | ReadonlyArray<Delayed<T>>): Future<T> | Array<Future<T>> {
    this.assertOpen();
    const roots = value instanceof Delayed ? [value] : [...value];
    const notDelayed = roots.findIndex((r) => !(r instanceof Delayed));
    if (notDelayed >= 0) {
      throw new ValidationError('compute: expected delayed values', [{ path: value instanceof Delayed ? 'value' : `values[${notDelayed}]`, message: 'expected delayed(fn)(...args); use gather() for futures' }]);
    }
    const tasks: WireTask[] = [];
    const fns: Array<[string, FunctionDef]> = [];
    const seen = new Set<string>();
    for (const root of roots) {
      for (const node of root.graph()) {
        if (seen.has(node.key)) continue;
        seen.add(node.key);
        this.addFn(node.fn, fns);
        tasks.push(wireTask(node.key, node.fn.id, node.args.bytes, node.args.deps, node.options.resources, node.options.retries));
      }
    }
    const futures = roots.map((r) => new Future<T>(r.key, this));
    this.postGraph(tasks, roots.map((r) => r.key), fns);
    return value instanceof Delayed ? (futures[0] as Future<T>) : futures;
  }

  /** Compute delayed values and return their results. */
  async get<T>(value: Delayed<T>): Promise<T> {
    const f = this.compute(value);
    try {
      return await f.result();
    } finally {
      f.release();
    }
  }

  /**
   * Put local data in the cluster; returns futures to pass to tasks. As in
   * Dask, an array gives one future per element (`scatter([a, b])` → two
   * futures); to scatter an array as one value, wrap it: `scatter([arr])[0]`.
   * Anything else (an object, a typed array, a string) is one value.
   */
  scatter<T>(values: readonly T[], options?: { list: true }): Array<Future<T>>;
  scatter<T>(value: T): Future<T>;
  scatter<T>(value: T | readonly T[], options?: { list: true }): Future<T> | Array<Future<T>> {
    this.assertOpen();
    if (options !== undefined && (options === null || typeof options !== 'object' || Object.keys(options).some((k) => k !== 'list') || options.list !== true)) {
      throw new ValidationError('scatter: invalid options', [{ path: 'options', message: 'the only option is { list: true } (arrays are scattered per element anyway)' }]);
    }
    if (Array.isArray(value)) return (value as readonly T[]).map((v) => this.submitRef<T>(identityRef, {}, [v]));
    if (options?.list) throw new ValidationError('scatter: { list: true } needs an array', [{ path: 'values', message: `expected an array, got ${typeof value}` }]);
    return this.submitRef<T>(identityRef, {}, [value]);
  }

  /**
   * Start computing delayed values now and keep their results in the cluster
   * while the returned values are held, as Dask's `persist`. Each returned
   * Delayed stands for the computed result: build further graphs on it, or
   * `compute()`/`client.get()` it, without recomputing the original graph.
   */
  persist<T>(value: Delayed<T>): Delayed<T>;
  persist<T>(values: ReadonlyArray<Delayed<T>>): Array<Delayed<T>>;
  persist<T>(value: Delayed<T> | ReadonlyArray<Delayed<T>>): Delayed<T> | Array<Delayed<T>> {
    if (!(value instanceof Delayed) && !(Array.isArray(value) && value.every((v) => v instanceof Delayed))) {
      throw new ValidationError('persist: expected a delayed value or an array of them', [{ path: 'value', message: 'use delayed(fn)(...args) to build one' }]);
    }
    const futures = this.compute(value instanceof Delayed ? [value] : value);
    // An identity node over the future: it holds the future (so the result stays) and reads as a Delayed.
    const wrap = (f: Future<T>) => new Delayed<T>(persistRef, [f]);
    return value instanceof Delayed ? wrap(futures[0] as Future<T>) : futures.map(wrap);
  }

  /** Wait for futures and return their values (the first failure is re-thrown). */
  async gather<T>(futures: ReadonlyArray<Future<T>>): Promise<T[]>;
  async gather<T>(future: Future<T>): Promise<T>;
  async gather<T>(futures: Future<T> | ReadonlyArray<Future<T>>): Promise<T | T[]> {
    if (futures instanceof Future) return futures.result();
    const list = [...futures];
    const hold = this._hold(list);
    try {
      await this.waitAll(list);
      const missing = [...new Set(list.filter((f) => !this.keys.get(f.key)?.data).map((f) => f.key))];
      const fetched = missing.length > 0 ? await this.transport.fetch(missing) : new Map<string, Buffer>();
      const out: T[] = new Array(list.length);
      for (let i = 0; i < list.length; i++) {
        const f = list[i] as Future<T>;
        const bytes = this.keys.get(f.key)?.data ?? fetched.get(f.key);
        out[i] = bytes ? (decodeValue(bytes) as T) : await f.result();
      }
      return out;
    } finally {
      this._unhold(hold);
    }
  }

  /** Cancel futures: their tasks stop unless another client needs them. */
  async cancel(futures: Future | readonly Future[]): Promise<void> {
    const list = futures instanceof Future ? [futures] : [...futures];
    const keys = [...new Set(list.map((f) => f.key))];
    for (const k of keys) {
      const st = this.keys.get(k);
      if (st && st.status === 'pending') this.settle(k, st, 'cancelled');
    }
    this.post({ op: 'cancel', keys });
  }

  /**
   * One future per partition of a dataset that may hold rows matching
   * `where` (pruned from the manifest here; each partition is read by a task
   * on a worker and arrives as an Arrow Table). See client/datasets.ts.
   */
  async readDataset(store: DatasetStoreRef, path: string, options: DatasetReadOptions = {}): Promise<Array<Future<ArrowTable>>> {
    this.assertOpen();
    const { readDataset } = await import('./datasets.ts');
    return readDataset(this, store, path, options);
  }

  /**
   * Bundle a module (and its imports) with esbuild into one content-hashed
   * file and upload it once; workers cache it by hash. `mod.fn('name')` then
   * refers to one export.
   */
  async module(pathOrUrl: string | URL): Promise<ModuleHandle> {
    this.assertOpen();
    const { hash, code, name } = await bundle(pathOrUrl);
    if (!this.uploaded.has(hash)) {
      this.post({ op: 'upload-module', hash }, [code]);
      this.uploaded.add(hash);
    }
    return new ModuleHandle(hash, name);
  }

  /**
   * Run a module's exported `setup(ctx)` on every worker thread, including
   * workers that join later. Resolves once the scheduler has it.
   */
  async registerWorkerPlugin(pathOrUrl: string | URL, name?: string): Promise<void> {
    this.assertOpen();
    const b = await bundle(pathOrUrl);
    await this.sent();
    await this.transport.request({ op: 'register-plugin', hash: b.hash, name: name ?? b.name }, [b.code]);
  }

  /** Workers and counters as the scheduler sees them. */
  async schedulerInfo(): Promise<{ workers: WorkerInfo[]; status: SchedulerStatus }> {
    await this.sent();
    const reply = await this.transport.request({ op: 'info' });
    return { workers: reply.workers, status: reply.status };
  }

  /** Scheduler-side states of keys (`forgotten` when unknown); for diagnostics and tests. */
  async taskStates(keys: readonly string[]): Promise<string[]> {
    await this.sent();
    const reply = await this.transport.request({ op: 'task-states', keys: [...keys] });
    return reply.states;
  }

  /**
   * Why a task is where it is: its scheduler-side transitions, oldest first,
   * each with the stimulus that caused it (a client's graph, a worker's
   * result, a worker lost). Bounded by the scheduler's transition log.
   */
  async story(key: string | Future): Promise<StoryEntry[]> {
    await this.sent();
    const reply = await this.transport.request({ op: 'story', key: typeof key === 'string' ? key : key.key });
    return reply.story;
  }

  /** Be told about long-running work (a shuffle restarting after a worker was lost). Returns the unsubscribe function. */
  onProgress(listener: (event: ProgressEvent) => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  /** Split a local Arrow table into `npartitions` partitions on the cluster (see client/tables). */
  fromTable(table: ArrowTable, options: FromTableOptions = {}): DistributedTable {
    this.assertOpen();
    return fromArrowTable(this, table, options);
  }

  /** A distributed table over existing futures of Arrow IPC partitions (see client/tables). */
  fromPartitions(futures: ReadonlyArray<Future<unknown>>, options: FromPartitionsOptions = {}): DistributedTable {
    this.assertOpen();
    return fromPartitionFutures(this, futures, options);
  }

  /** @internal Submit prepared tasks (table graphs); returns a future per wanted key. */
  _submitTasks<T>(tasks: WireTask[], fns: ReadonlyArray<[string, FunctionDef]>, wants: readonly string[]): Array<Future<T>> {
    this.assertOpen();
    const newFns: Array<[string, FunctionDef]> = [];
    for (const [id, def] of fns) this.addFn({ id, def, name: def.name }, newFns);
    const futures = wants.map((k) => new Future<T>(k, this));
    this.postGraph(tasks, [...wants], newFns);
    return futures;
  }

  /** @internal Stored bytes of a finished key (0 when unknown). */
  _nbytes(key: string): number {
    return this.keys.get(key)?.nbytes ?? 0;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.flushReleases();
      await this.sent();
      this.closed = true;
      await this.transport.close().catch(() => undefined);
      this.onLost(new ClientClosedError());
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // -------------------------------------------------------------- internals

  /**
   * Ordered outbox with backpressure: messages go out in order, at most
   * GRAPH_CHUNK tasks per event-loop turn, waiting for the socket to drain
   * between turns. A huge map therefore reaches the scheduler as a stream of
   * moderate frames instead of one giant one.
   */
  private post(msg: ClientToScheduler, bufs?: readonly Buffer[], weight = 1): void {
    this.outbox.push({ msg, bufs, weight });
    if (!this.pumping) {
      this.pumping = true;
      soon(() => void this.pump());
    }
  }

  /**
   * Send a graph. Independent tasks (a map) stream in chunks, each with its
   * own wants; a delayed graph goes whole (a chunk's intermediates would be
   * forgotten before the chunk that needs them arrives).
   */
  private postGraph(tasks: WireTask[], wants: string[], fns: Array<[string, FunctionDef]>, independent = false): void {
    if (!independent || tasks.length <= GRAPH_CHUNK) {
      this.post({ op: 'update-graph', tasks, wants, fns }, undefined, tasks.length);
      return;
    }
    const wanted = new Set(wants);
    for (let i = 0; i < tasks.length; i += GRAPH_CHUNK) {
      const chunk = tasks.slice(i, i + GRAPH_CHUNK);
      const chunkWants = chunk.filter((t) => wanted.has(t.key)).map((t) => t.key);
      for (const k of chunkWants) wanted.delete(k);
      const last = i + GRAPH_CHUNK >= tasks.length;
      this.post({ op: 'update-graph', tasks: chunk, wants: last ? [...chunkWants, ...wanted] : chunkWants, fns: i === 0 ? fns : [] }, undefined, chunk.length);
    }
  }

  private async pump(): Promise<void> {
    try {
      while (this.outbox.length > 0 && !this.closed) {
        let budget = GRAPH_CHUNK;
        let n = 0;
        while (n < this.outbox.length && budget > 0) {
          const m = this.outbox[n++] as { msg: ClientToScheduler; bufs?: readonly Buffer[]; weight: number };
          this.transport.send(m.msg, m.bufs, m.weight);
          budget -= m.weight;
        }
        this.outbox.splice(0, n);
        if (this.outbox.length > 0) {
          await this.transport.drained();
          await new Promise((r) => setImmediate(r));
        }
      }
    } finally {
      this.pumping = false;
      const waiters = this.sentWaiters;
      this.sentWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves once everything posted so far was handed to the transport. */
  private sent(): Promise<void> {
    if (!this.pumping) return Promise.resolve();
    return new Promise((r) => this.sentWaiters.push(r));
  }

  private uniqueKey(ref: FunctionRef): string {
    return `${ref.name}-${this.keyPrefix}${(++this.keyCounter).toString(16).padStart(8, '0')}`;
  }

  private assertOpen(): void {
    if (this.closed) throw new ClientClosedError();
  }

  private addFn(ref: FunctionRef, fns: Array<[string, FunctionDef]>): void {
    if (this.sentFns.has(ref.id)) return;
    this.sentFns.add(ref.id);
    fns.push([ref.id, ref.def]);
  }

  private collectDelayed(root: Delayed, tasks: WireTask[], fns: Array<[string, FunctionDef]>): void {
    for (const node of root.graph()) {
      this.addFn(node.fn, fns);
      tasks.push(wireTask(node.key, node.fn.id, node.args.bytes, node.args.deps, node.options.resources, node.options.retries));
    }
  }

  /** @internal */ _ref(f: Future): void {
    let st = this.keys.get(f.key);
    if (!st) {
      st = { status: 'pending', refs: 0, data: undefined, error: undefined, waiters: NO_WAITERS, holds: 0, nbytes: 0 };
      this.keys.set(f.key, st);
    }
    st.refs++;
    this.registry.register(f, f.key, f);
  }

  /** @internal */ _unref(f: Future): void {
    this.registry.unregister(f);
    this.dropRef(f.key);
  }

  /** One future of the key is gone (released or collected); the key goes once none is left and nothing awaits it. */
  private dropRef(key: string): void {
    const st = this.keys.get(key);
    if (!st) return;
    st.refs--;
    this.forgetIfUnused(key, st);
  }

  /**
   * Keep futures (and their keys) while an operation awaits them. Every
   * internal wait on a future goes through a hold, so neither collection nor
   * an explicit release can cancel what is being awaited.
   */
  /** @internal */ _hold(futures: readonly Future[]): AwaitHold {
    const hold: AwaitHold = { futures, keys: [], states: [] };
    for (const f of futures) {
      const st = this.keys.get(f.key);
      if (!st) continue; // released already: the wait itself reports it
      st.holds++;
      hold.keys.push(f.key);
      hold.states.push(st);
    }
    this.awaited.add(hold);
    return hold;
  }

  /** @internal */ _unhold(hold: AwaitHold): void {
    if (!this.awaited.delete(hold)) return;
    for (let i = 0; i < hold.keys.length; i++) {
      const st = hold.states[i] as KeyState;
      st.holds--;
      this.forgetIfUnused(hold.keys[i] as string, st);
    }
  }

  private forgetIfUnused(key: string, st: KeyState): void {
    // A release while something awaits the key waits for it to finish: releasing never rejects a waiter.
    if (st.refs > 0 || st.holds > 0 || st.waiters.length > 0 || this.keys.get(key) !== st) return;
    this.keys.delete(key);
    if (this.closed) return;
    this.releaseQueue.push(key);
    if (!this.releaseScheduled) {
      this.releaseScheduled = true;
      setImmediate(() => this.flushReleases());
    }
  }

  private flushReleases(): void {
    this.releaseScheduled = false;
    if (this.releaseQueue.length === 0 || this.closed) return;
    // A key released and wanted again in the same turn is still wanted.
    const keys = this.releaseQueue.filter((k) => !this.keys.has(k));
    this.releaseQueue = [];
    if (keys.length > 0) this.post({ op: 'release-keys', keys });
  }

  /** @internal */ _status(key: string): FutureStatus {
    return this.keys.get(key)?.status ?? 'cancelled';
  }

  /** @internal */ _wait(key: string): Promise<void> {
    const st = this.keys.get(key);
    if (!st) return Promise.reject(new CancelledError(key));
    if (st.status === 'finished') return Promise.resolve();
    if (st.status === 'error') return Promise.reject(taskErrorFrom(key, st.error ?? { name: 'Error', message: 'task failed' }));
    if (st.status === 'cancelled') return Promise.reject(new CancelledError(key));
    if (this.closed) return Promise.reject(new ClientClosedError());
    return new Promise((resolve, reject) => {
      if (st.waiters === NO_WAITERS) st.waiters = [];
      st.waiters.push({ resolve, reject });
    });
  }

  /** Resolves when every future finished; rejects with the first failure. One promise for all. */
  private waitAll(list: readonly Future[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let pending = 1;
      const one = () => {
        if (--pending === 0) resolve();
      };
      // One waiter object shared by every future of the list.
      const waiter = { resolve: one, reject };
      for (const f of list) {
        const st = this.keys.get(f.key);
        if (st && st.status === 'finished') continue;
        if (!st || st.status !== 'pending') {
          this._wait(f.key).then(() => undefined, reject);
          return;
        }
        pending++;
        if (st.waiters === NO_WAITERS) st.waiters = [];
        st.waiters.push(waiter);
      }
      one();
    });
  }

  /** @internal */ async _waitFuture(f: Future): Promise<void> {
    const hold = this._hold([f]);
    try {
      await this._wait(f.key);
    } finally {
      this._unhold(hold);
    }
  }

  /** @internal */ async _result(f: Future): Promise<unknown> {
    const key = f.key;
    const hold = this._hold([f]);
    try {
      for (let attempt = 0; ; attempt++) {
        await this._wait(key);
        const st = this.keys.get(key);
        if (st?.data) return decodeValue(st.data);
        const fetched = await this.transport.fetch([key]);
        const bytes = fetched.get(key);
        if (bytes) return decodeValue(bytes);
        if (attempt > 50) throw new ClientClosedError(`the result of ${key} could not be fetched from any worker`);
        // Lost with its worker: wait for the recomputation (lost-data turns it pending).
        await sleep(backoffDelay(attempt, REFETCH_BACKOFF));
      }
    } finally {
      this._unhold(hold);
    }
  }

  private settle(key: string, st: KeyState, status: FutureStatus): void {
    st.status = status;
    const waiters = st.waiters;
    st.waiters = NO_WAITERS;
    for (const w of waiters) {
      if (status === 'finished') w.resolve();
      else if (status === 'error') w.reject(taskErrorFrom(key, st.error ?? { name: 'Error', message: 'task failed' }));
      else w.reject(new CancelledError(key));
    }
    // A key whose futures were all dropped while it had waiters goes now.
    if (waiters.length > 0) this.forgetIfUnused(key, st);
  }

  private onMessage(msg: SchedulerEvent, bufs: Buffer[] | undefined): void {
    if (msg.op === 'in-memory') {
      const { k: keys, di } = msg;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        const st = this.keys.get(key);
        if (!st) continue;
        const d = di[i] as number;
        st.data = d >= 0 ? bufs?.[d] : undefined;
        st.nbytes = msg.n[i] as number;
        st.error = undefined;
        this.settle(key, st, 'finished');
      }
      return;
    }
    if (msg.op === 'error') {
      // The scheduler refused something this client sent: a bug here, not in the user's code; keep going.
      process.emitWarning(`the scheduler refused a message: ${msg.error.message}`, { code: 'RECC_PROTOCOL' });
      return;
    }
    if (msg.op === 'shuffle-progress') {
      for (const listener of this.progressListeners) listener({ kind: 'shuffle', id: msg.id, run: msg.run, message: msg.message });
      return;
    }
    const key = msg.key;
    const st = this.keys.get(key);
    if (!st) return;
    switch (msg.op) {
      case 'task-erred':
        st.error = msg.error;
        this.settle(key, st, 'error');
        return;
      case 'cancelled':
        if (st.status === 'pending') this.settle(key, st, 'cancelled');
        return;
      case 'lost-data':
        st.data = undefined;
        if (st.status === 'finished') st.status = 'pending';
        return;
    }
  }

  private onLost(err?: Error): void {
    this.closed = true;
    unregisterClient(this);
    for (const [key, st] of this.keys) {
      if (st.status !== 'pending' && st.status !== 'lost') continue;
      const waiters = st.waiters;
      st.waiters = NO_WAITERS;
      st.status = 'lost';
      for (const w of waiters) w.reject(err instanceof ClientClosedError ? err : new ClientClosedError(`lost the scheduler while waiting for ${key}`, { cause: err }));
    }
  }
}

/**
 * Bundle a module with esbuild (lazily imported) into one ESM file, with an
 * inline source map whose sources are the absolute file URLs of the user's
 * files: workers enable source maps, so a task's stack names `bad-module.ts:2`
 * rather than the content-hashed `.mjs` it runs from.
 */
async function bundle(pathOrUrl: string | URL): Promise<{ hash: string; code: Buffer; name: string }> {
  const path = pathOrUrl instanceof URL || String(pathOrUrl).startsWith('file:') ? fileURLToPath(pathOrUrl) : resolvePath(String(pathOrUrl));
  const esbuild = await import('esbuild');
  // Never written (write: false); it only anchors the map's relative source paths.
  const outfile = resolvePath(dirname(path), `${basename(path)}.recc-bundle.mjs`);
  let code: Buffer;
  try {
    const res = await esbuild.build({
      entryPoints: [path],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      outfile,
      sourcemap: 'external',
      sourcesContent: false,
      logLevel: 'silent',
      banner: { js: "import { createRequire as __reccCreateRequire } from 'node:module'; const require = __reccCreateRequire(import.meta.url);" },
      plugins: [arrowPatches],
    });
    const js = res.outputFiles.find((f) => f.path === outfile);
    const map = res.outputFiles.find((f) => f.path === `${outfile}.map`);
    if (!js) throw new Error('esbuild produced no output');
    let text = js.text.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    if (map) {
      const sourceMap = JSON.parse(map.text) as { sources: string[] };
      sourceMap.sources = sourceMap.sources.map((s) => pathToFileURL(resolvePath(dirname(outfile), s)).href);
      text += `//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(sourceMap)).toString('base64')}\n`;
    }
    code = Buffer.from(text);
  } catch (err) {
    throw new ModuleBundleError(`cannot bundle ${path}: ${(err as Error).message}`, { cause: err });
  }
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 32);
  return { hash, code, name: basename(path).replace(/\.[cm]?[jt]sx?$/, '') };
}

/** One task as the scheduler receives it (comm/protocol: update-graph). */
function wireTask(key: string, fn: string, args: Uint8Array, deps: string[], resources: Record<string, number> | undefined, retries: number | undefined): WireTask {
  return { key, fn, args, deps, resources: resources ?? null, retries: retries ?? 0 };
}

/** A map item: the value, or a future or delayed value of it. */
export type MapItem<T> = T | Future<T> | Delayed<T>;

/** The options `client.map` takes (no `key`: every task gets its own). */
export type MapOptions = Omit<TaskOptions, 'key'>;

const MAP_OPTION_KEYS = ['resources', 'retries', 'pure'] as const;

/** The identity function under another name, so persisted keys read `persist-…`. */
const persistRef: FunctionRef = { ...identityRef, name: 'persist' };

/**
 * Split `map`'s arguments into iterables and the trailing options. Only a
 * plain object (not iterable) in last place is options; it must have known
 * keys of the right types. Everything else must be an iterable.
 */
function parseMapArguments(rest: readonly unknown[]): { iterables: Array<Iterable<unknown>>; options: MapOptions } {
  const last = rest[rest.length - 1];
  const hasOptions = rest.length > 1 && isPlainObject(last);
  const iterables = (hasOptions ? rest.slice(0, -1) : rest) as unknown[];
  const problems: Array<{ path: string; message: string }> = [];
  if (iterables.length === 0) problems.push({ path: 'items', message: 'expected at least one iterable of items' });
  iterables.forEach((it, i) => {
    // Argument numbers count the function as argument 1, as a reader of the call does.
    if (typeof it === 'string') problems.push({ path: `arguments[${i + 1}]`, message: `argument ${i + 2} is a string; map over an array of strings instead (a string would be split into characters)` });
    else if (it === null || typeof it !== 'object' || typeof (it as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      problems.push({ path: `arguments[${i + 1}]`, message: `argument ${i + 2} is ${describeValue(it)}, not an iterable${isPlainObject(it) ? ' (options go last)' : ''}` });
    }
  });
  const options = (hasOptions ? last : {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(options)) {
    if (!(MAP_OPTION_KEYS as readonly string[]).includes(k)) {
      const near = MAP_OPTION_KEYS.map((o) => [o, distance(k.toLowerCase(), o)] as const).sort((a, b) => a[1] - b[1])[0];
      const hint = near && near[1] <= Math.max(2, Math.floor(k.length / 3)) ? `; did you mean "${near[0]}"?` : '';
      problems.push({ path: `options.${k}`, message: `unknown option "${k}"${hint} (known: ${MAP_OPTION_KEYS.join(', ')}${k === 'key' ? '; map gives every task its own key' : ''})` });
    } else if (v === undefined) continue;
    else if (k === 'pure' && typeof v !== 'boolean') problems.push({ path: 'options.pure', message: `expected true or false, got ${describeValue(v)}` });
    else if (k === 'retries' && !(Number.isInteger(v) && (v as number) >= 0)) problems.push({ path: 'options.retries', message: `expected a whole number ≥ 0, got ${describeValue(v)}` });
    else if (k === 'resources' && !(isPlainObject(v) && Object.values(v).every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0))) {
      problems.push({ path: 'options.resources', message: `expected an object of non-negative numbers such as { GPU: 1 }, got ${describeValue(v)}` });
    }
  }
  if (problems.length > 0) throw new ValidationError(`invalid map arguments: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
  return { iterables: iterables as Array<Iterable<unknown>>, options: options as MapOptions };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return (proto === Object.prototype || proto === null) && typeof (v as Partial<Iterable<unknown>>)[Symbol.iterator] !== 'function';
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v) ?? String(v)}`;
}

/**
 * The default client, as Dask's `get_client()`: the most recently connected
 * client that is still open. Throws NoClientError when there is none.
 */
export function getClient(): Client {
  return defaultClient() as Client;
}
