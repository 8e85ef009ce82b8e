/**
 * Body of one task thread (a worker_threads Worker). It compiles task
 * functions once per id, decodes arguments (substituting dependency
 * results), runs the function and posts the encoded result back, transferring
 * the bytes. Runs off the worker's event loop, so heartbeats and transfers
 * keep flowing while tasks burn CPU.
 */
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { decodeValue, encodeValue, toWireError, type FunctionDef } from '../comm/payload.ts';
import { CommandFailedError } from './errors.ts';

export interface ThreadTask {
  id: number;
  key: string;
  f: string;
  a: Uint8Array;
  deps: Array<[string, Uint8Array]>;
}

export type ToThread =
  | { t: 'fns'; defs: Array<[string, FunctionDef, string | undefined]> }
  | { t: 'plugin'; path: string; name: string }
  | { t: 'run'; tasks: ThreadTask[] };

export type ThreadResult =
  | { id: number; ok: true; data: Uint8Array; ms: number }
  | { id: number; ok: false; error: { name: string; message: string; stack?: string }; ms: number };

export type FromThread = { t: 'done'; results: ThreadResult[] } | { t: 'plugin-error'; name: string; error: { name: string; message: string } };

if (!parentPort) throw new Error('worker/thread.ts must run in a worker thread');
const port = parentPort;
const info = (workerData ?? {}) as { workerName?: string; threadIndex?: number };

const defs = new Map<string, [FunctionDef, string | undefined]>();
const compiled = new Map<string, (...args: unknown[]) => unknown>();
let chain: Promise<void> = Promise.resolve();
let outbox: ThreadResult[] = [];
let transfer: ArrayBuffer[] = [];
let flushScheduled = false;
let lastFlush = performance.now();

function flush(): void {
  flushScheduled = false;
  lastFlush = performance.now();
  if (outbox.length === 0) return;
  const results = outbox;
  const buffers = transfer;
  outbox = [];
  transfer = [];
  port.postMessage({ t: 'done', results } satisfies FromThread, buffers);
}

/**
 * Results of short tasks finished in one turn go back as one message; once a
 * millisecond has passed since the last message they go at once (a chain of
 * synchronous tasks never yields to setImmediate).
 */
function post(r: ThreadResult, buffer?: ArrayBuffer): void {
  outbox.push(r);
  if (buffer) transfer.push(buffer);
  if (performance.now() - lastFlush >= 1) flush();
  else if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

port.on('message', (msg: ToThread) => {
  if (msg.t === 'fns') {
    for (const [id, def, path] of msg.defs) defs.set(id, [def, path]);
    return;
  }
  if (msg.t === 'plugin') {
    chain = chain.then(async () => {
      try {
        const mod = (await import(pathToFileURL(msg.path).href)) as { setup?: (ctx: unknown) => unknown };
        if (typeof mod.setup !== 'function') throw new TypeError(`worker plugin ${msg.name} has no exported setup() function`);
        await mod.setup({ workerName: info.workerName, threadIndex: info.threadIndex });
      } catch (err) {
        port.postMessage({ t: 'plugin-error', name: msg.name, error: toWireError(err) } satisfies FromThread);
      }
    });
    return;
  }
  for (const task of msg.tasks) chain = chain.then(() => runOne(task));
});

async function runOne(task: ThreadTask): Promise<void> {
  const started = performance.now();
  try {
    const fn = await resolveFunction(task.f);
    let args: unknown;
    if (task.deps.length === 0) args = decodeValue(task.a);
    else {
      // Decode dependencies first: the msgpack decoder is not re-entrant.
      const values = new Map<string, unknown>();
      for (const [key, bytes] of task.deps) values.set(key, decodeValue(bytes));
      args = decodeValue(task.a, (key) => {
        if (!values.has(key)) throw new Error(`dependency ${key} was not provided to the task`);
        return values.get(key);
      });
    }
    let result = fn(...(args as unknown[]));
    if (result && typeof (result as Promise<unknown>).then === 'function') result = await result;
    const data = encodeValue(result);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    post({ id: task.id, ok: true, data: bytes, ms: performance.now() - started }, bytes.buffer as ArrayBuffer);
  } catch (err) {
    post({ id: task.id, ok: false, error: explain(err, task.f), ms: performance.now() - started });
  }
}

/** A ReferenceError in an inline function almost always means it captured an outer variable. */
function explain(err: unknown, fnId: string): { name: string; message: string; stack?: string } {
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
      fn = new Function(`"use strict"; return (${def.source});`)() as (...args: unknown[]) => unknown;
      if (typeof fn !== 'function') throw new TypeError(`inline function ${def.name} did not compile to a function`);
      break;
    case 'module': {
      if (!path) throw new Error(`module ${def.hash} is not cached on this worker`);
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
    child.on('error', (e) => reject(e));
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if ((code !== 0 || signal) && !def.allowNonZero) reject(new CommandFailedError(argv, code, stderr, signal));
      else resolve({ exitCode: code, stdout, stderr });
    });
  });
}
