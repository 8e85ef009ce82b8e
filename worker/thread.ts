/**
 * Body of one task thread (a worker_threads Worker). It compiles task
 * functions once per id, decodes arguments (substituting dependency
 * results), runs the function and posts the encoded result back, transferring
 * the bytes. Runs off the worker's event loop, so heartbeats and transfers
 * keep flowing while tasks burn CPU.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { decodeValue, encodeValueView, toWireError, type FunctionDef } from '../comm/payload.ts';
import { CommandFailedError } from './errors.ts';
import { acquireGc } from './gc.ts';
import { compileInline, reprArgs } from './task-source.ts';
import type { TaskErrorInfo } from '../shared/engine/task-error.ts';

/**
 * A batch of tasks for a thread. Arguments and dependency bytes of the whole
 * batch travel in one transferred ArrayBuffer (cloning many small views would
 * copy whole network frames each time); `spans` holds [start, end) pairs.
 */
export interface RunBatch {
  t: 'run';
  ids: number[];
  fns: string[];
  /** Per task: argument span index, then for each dependency [key, span index]. */
  args: number[];
  deps: Array<Array<[string, number]> | 0>;
  spans: number[];
  buf: ArrayBuffer;
  /** Large dependencies in shared memory, passed by reference (span index -1 - i). */
  shared: Uint8Array[];
  /** Per shared buffer: its pin in the receive pool (comm/buffer-pool.ts), 0 if not pooled; reported back once collected here. */
  pins: number[];
}

export type ToThread = { t: 'fns'; defs: Array<[string, FunctionDef, string | undefined]> } | { t: 'plugin'; path: string; name: string } | { t: 'gc' } | RunBatch;

/**
 * Results of a batch. Small results share one transferred ArrayBuffer
 * (`spans`); a result of 64 KiB or more travels in its own buffer (`big`,
 * referenced by a negative span start -1 - i; the span's second number is where
 * the result starts in that buffer, running to its end). Failed tasks have `errors[i]`.
 */
export interface DoneBatch {
  t: 'done';
  ids: number[];
  ms: number[];
  spans: number[];
  errors: Array<TaskErrorInfo | 0>;
  buf: ArrayBuffer;
  big: Array<ArrayBuffer | SharedArrayBuffer>;
}

export type FromThread = DoneBatch | { t: 'plugin-error'; name: string; error: { name: string; message: string } } | { t: 'unpin'; ids: number[] };

if (!parentPort) throw new Error('worker/thread.ts must run in a worker thread');
/**
 * Module tasks carry inline source maps (client/client.ts bundle()): map their frames back to the user's .ts files.
 * Switched on before the first module (task or plugin) loads, not at thread start: it loads Node's
 * source-map support, which inline-only threads never need.
 */
let sourceMaps = false;
function enableSourceMaps(): void {
  if (sourceMaps) return;
  sourceMaps = true;
  process.setSourceMapsEnabled(true);
}
const port = parentPort;
const info = (workerData ?? {}) as { workerName?: string; threadIndex?: number; gcAfterBytes?: number };

/**
 * recc's table layer for tasks (client.readDataset's partition reads):
 * inline tasks ship as source and cannot import recc's own modules by path,
 * so the thread offers them here, loaded on first use.
 */
(globalThis as Record<symbol, unknown>)[Symbol.for('recc.tables')] = () => import('../adapters/tables/index.ts');

/**
 * A task function by id, for the table operations' module user functions
 * (mapPartitions(mod.fn('name'))): the ops module calls them itself.
 */
(globalThis as Record<symbol, unknown>)[Symbol.for('recc.function')] = (id: string) => resolveFunction(id);

const defs = new Map<string, [FunctionDef, string | undefined]>();
const compiled = new Map<string, (...args: unknown[]) => unknown>();
let chain: Promise<void> = Promise.resolve();

/**
 * Large results and shared inputs of this many bytes since the last collection are followed by one in the thread:
 * a share of the worker's memory limit (worker/memory.ts threadGcThreshold), 8 MiB under a small limit.
 */
const GC_AFTER_BYTES = info.gcAfterBytes ?? 8 * 1024 * 1024;
/** One result this large is followed by a collection at once (see flush), whatever the limit. */
const LARGE_RESULT_BYTES = Math.min(GC_AFTER_BYTES, 64 * 1024 * 1024);
/**
 * This thread's gc, taken on first need (worker/gc.ts): the worker no longer
 * leaves --expose-gc set, which made every thread start slowly.
 */
let gcFn: (() => void) | null | undefined;
/** Collections this thread ran itself (the worker's tests read it through a task: globalThis[Symbol.for('recc.collections')]). */
let collections = 0;
function collectGarbage(): void {
  if (gcFn === undefined) gcFn = acquireGc() ?? null;
  if (!gcFn) return;
  gcFn();
  (globalThis as Record<symbol, unknown>)[Symbol.for('recc.collections')] = ++collections;
}

/**
 * Pooled receive memory this thread can see. The worker reuses it only after
 * this thread's SharedArrayBuffer object for it is collected, i.e. no task
 * (not even one that kept its input in a global) can read it any more.
 */
let collected: number[] = [];
const pooledViews = new FinalizationRegistry<number>((pin) => {
  collected.push(pin);
  if (collected.length === 1) {
    setImmediate(() => {
      const ids = collected;
      collected = [];
      port.postMessage({ t: 'unpin', ids } satisfies FromThread);
    });
  }
});
/** Pooled buffers received since the last collection. */
let pooledSinceGc = 0;
/**
 * Bytes of large results sent and of shared inputs received since the last collection. Shared memory is counted
 * in no isolate's external memory, so V8 never collects for it (worker/memory.ts SharedMemoryCollector): a
 * result's or input's memory stays resident while this thread's object for it lives, whoever else let go.
 */
let bigSinceGc = 0;

/** The batch being collected. */
let out = newBatch();
let outBytes = Buffer.allocUnsafeSlow(64 * 1024);
let outLen = 0;
let flushScheduled = false;
let lastFlush = performance.now();

function newBatch(): DoneBatch {
  return { t: 'done', ids: [], ms: [], spans: [], errors: [], buf: new ArrayBuffer(0), big: [] };
}

function flush(): void {
  flushScheduled = false;
  lastFlush = performance.now();
  if (out.ids.length === 0) return;
  const big = postBatch();
  bigSinceGc += big;
  // A task that built a large result usually left garbage of the same size here (its own array, when the
  // result was encoded from it). Collect it now, so the process RSS that the memory limit is enforced on
  // shows live memory only; deferred, freeing the task's own array (~8 ms of kernel time per 100 MiB here)
  // would run while the result is being used, e.g. sent to another worker.
  if (big >= LARGE_RESULT_BYTES) {
    bigSinceGc = 0;
    collectGarbage();
  }
  // Pooled and shared inputs: this thread's objects for them keep them resident (V8 collects for no shared
  // memory by itself, worker/memory.ts). Collected only once this task's frame is gone (collectSoon).
  if (pooledSinceGc > 0 || bigSinceGc >= GC_AFTER_BYTES) {
    pooledSinceGc = 0;
    collectSoon();
  }
}

let gcScheduled = false;
/**
 * Collect on the next turn, not now: flush() usually runs inside runOne, whose
 * frame (and the `chain` reaction that called it) still holds the task's
 * inputs and result. Collected there, a pooled input survived until the next
 * pooled task's collection, so the worker kept two receive bodies in rotation
 * and could not reuse the first one for the second transfer (100 MiB of fresh
 * memory, ~25,600 page faults; bench/FINDINGS.md §3c). Off the result's path
 * as well: the result message is already posted.
 */
function collectSoon(): void {
  if (gcScheduled) return;
  gcScheduled = true;
  setImmediate(() => {
    gcScheduled = false;
    bigSinceGc = 0;
    collectGarbage();
  });
}

/** Post the batch collected so far; returns the bytes of its large results. */
function postBatch(): number {
  const batch = out;
  const buf = new ArrayBuffer(outLen);
  new Uint8Array(buf).set(outBytes.subarray(0, outLen));
  batch.buf = buf;
  out = newBatch();
  outLen = 0;
  // Shared buffers are shared, not transferred.
  const transfer = batch.big.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
  port.postMessage(batch satisfies FromThread, [buf, ...transfer]);
  return batch.big.reduce((n, b) => n + b.byteLength, 0);
}

/**
 * Results of short tasks finished in one turn go back as one message; once a
 * millisecond has passed since the last message they go at once (a chain of
 * synchronous tasks never yields to setImmediate).
 */
function post(id: number, ms: number, result: { data: Uint8Array } | { error: TaskErrorInfo }): void {
  out.ids.push(id);
  out.ms.push(ms);
  if ('error' in result) {
    out.errors.push(result.error);
    out.spans.push(0, 0);
  } else {
    out.errors.push(0);
    const d = result.data;
    if (d.byteLength >= 64 * 1024) {
      // Shared memory from an offset to its end (a headed result, comm/raw-result.ts) goes as is, with that offset.
      const asIs = d.byteOffset + d.byteLength === d.buffer.byteLength && (d.byteOffset === 0 || d.buffer instanceof SharedArrayBuffer);
      const own = asIs ? d : new Uint8Array(d);
      out.big.push(own.buffer);
      out.spans.push(-out.big.length, own.byteOffset);
    } else {
      if (outLen + d.byteLength > outBytes.length) {
        const bigger = Buffer.allocUnsafeSlow(Math.max(outBytes.length * 2, outLen + d.byteLength));
        outBytes.copy(bigger, 0, 0, outLen);
        outBytes = bigger;
      }
      outBytes.set(d, outLen);
      out.spans.push(outLen, outLen + d.byteLength);
      outLen += d.byteLength;
    }
  }
  // Flush when the thread has nothing else queued (latency) or a millisecond
  // has passed (throughput: at most ~1,000 result messages a second).
  if (queued === 0 || performance.now() - lastFlush >= 1) flush();
  else if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

/** Tasks received and not yet finished. */
let queued = 0;

port.on('message', (msg: ToThread) => {
  if (msg.t === 'fns') {
    for (const [id, def, path] of msg.defs) defs.set(id, [def, path]);
    return;
  }
  if (msg.t === 'gc') {
    // The worker's memory is under pressure (worker/memory.ts collectThreads): at the next turn, between tasks.
    collectSoon();
    return;
  }
  if (msg.t === 'plugin') {
    chain = chain.then(async () => {
      try {
        enableSourceMaps();
        const mod = (await import(pathToFileURL(msg.path).href)) as { setup?: (ctx: unknown) => unknown };
        if (typeof mod.setup !== 'function') throw new TypeError(`worker plugin ${msg.name} has no exported setup() function`);
        await mod.setup({ workerName: info.workerName, threadIndex: info.threadIndex });
      } catch (err) {
        port.postMessage({ t: 'plugin-error', name: msg.name, error: toWireError(err) } satisfies FromThread);
      }
    });
    return;
  }
  for (const s of msg.shared) bigSinceGc += s.byteLength;
  for (let i = 0; i < msg.pins.length; i++) {
    const pin = msg.pins[i] as number;
    if (pin === 0) continue;
    pooledViews.register((msg.shared[i] as Uint8Array).buffer, pin);
    pooledSinceGc++;
  }
  const bytes = new Uint8Array(msg.buf);
  const span = (i: number) => (i < 0 ? (msg.shared[-1 - i] as Uint8Array) : bytes.subarray(msg.spans[2 * i] as number, msg.spans[2 * i + 1] as number));
  for (let i = 0; i < msg.ids.length; i++) {
    const id = msg.ids[i] as number;
    const f = msg.fns[i] as string;
    const a = span(msg.args[i] as number);
    const d = msg.deps[i];
    const deps: Array<[string, Uint8Array]> = d ? d.map(([k, si]) => [k, span(si)]) : [];
    queued++;
    chain = chain.then(() => runOne(id, f, a, deps));
  }
});

async function runOne(id: number, f: string, a: Uint8Array, deps: Array<[string, Uint8Array]>): Promise<void> {
  const started = performance.now();
  queued--;
  let decoded: unknown[] | undefined;
  try {
    const fn = await resolveFunction(f);
    let args: unknown;
    if (deps.length === 0) args = decodeValue(a);
    else {
      // Decode dependencies first: the msgpack decoder is not re-entrant.
      const values = new Map<string, unknown>();
      for (const [key, bytes] of deps) values.set(key, decodeValue(bytes));
      args = decodeValue(a, (key) => {
        if (!values.has(key)) throw new Error(`dependency ${key} was not provided to the task`);
        return values.get(key);
      });
    }
    decoded = args as unknown[];
    let result = fn(...decoded);
    if (result && typeof (result as Promise<unknown>).then === 'function') result = await result;
    post(id, performance.now() - started, { data: encodeValueView(result) });
  } catch (err) {
    const error = explain(err, f);
    if (decoded) error.args = reprArgs(decoded);
    post(id, performance.now() - started, { error });
  }
}

/** A ReferenceError in an inline function almost always means it captured an outer variable. */
function explain(err: unknown, fnId: string): TaskErrorInfo {
  const wire = toWireError(err);
  const def = defs.get(fnId)?.[0];
  if (def?.kind === 'inline' && err instanceof ReferenceError) {
    const m = /^(\S+) is not defined/.exec(err.message);
    if (m) {
      wire.message = `${err.message}: inline function ${def.name || '(anonymous)'} refers to the outer variable "${m[1]}". Inline functions ship as source and cannot capture variables; pass it as an argument or put the function in a module (client.module(path))`;
    }
  }
  return wire;
}

async function resolveFunction(id: string): Promise<(...args: unknown[]) => unknown> {
  const hit = compiled.get(id);
  if (hit) return hit;
  const entry = defs.get(id);
  if (!entry) throw new Error(`function ${id} is unknown to this worker`);
  const [def, path] = entry;
  let fn: (...args: unknown[]) => unknown;
  switch (def.kind) {
    case 'identity':
      fn = (x: unknown) => x;
      break;
    case 'inline':
      fn = compileInline(def.name, def.source);
      if (typeof fn !== 'function') throw new TypeError(`inline function ${def.name} did not compile to a function`);
      break;
    case 'module': {
      if (!path) throw new Error(`module ${def.hash} is not cached on this worker`);
      enableSourceMaps();
      const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
      const f = mod[def.exportName] ?? (def.exportName === 'default' ? undefined : (mod.default as Record<string, unknown> | undefined)?.[def.exportName]);
      if (typeof f !== 'function') throw new TypeError(`module ${def.name} has no exported function "${def.exportName}"`);
      fn = f as (...args: unknown[]) => unknown;
      break;
    }
    case 'command':
      fn = (...args: unknown[]) => runCommand(def, args);
      break;
  }
  compiled.set(id, fn);
  return fn;
}

function runCommand(def: Extract<FunctionDef, { kind: 'command' }>, args: unknown[]): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  const argv = [...def.argv, ...args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a)))];
  // Required here, not imported at the top: loading node:child_process costs every task thread's start ~10 ms, and few tasks are commands.
  const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: def.cwd,
      env: { ...process.env, ...(def.env ?? {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    // A missing or non-executable program fails like a non-zero exit, with the reason ("not found").
    child.on('error', (e: NodeJS.ErrnoException) => reject(new CommandFailedError(argv, null, '', null, e)));
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if ((code !== 0 || signal) && !def.allowNonZero) reject(new CommandFailedError(argv, code, stderr, signal));
      else resolve({ exitCode: code, stdout, stderr });
    });
  });
}
