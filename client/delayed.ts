import { KeyRef, encodeValue } from '../comm/payload.ts';
import type { PathRoot } from '../comm/unencodable.ts';
import { defaultClient } from './default-client.ts';
import { functionRef, type FunctionRef, type TaskFunction } from './functions.ts';
import { Future } from './future.ts';

export interface TaskOptions {
  /** Explicit key (default: derived from the function and arguments). */
  key?: string;
  /** Same function and arguments give the same key and reuse the result (default true). */
  pure?: boolean;
  /** Run only on workers advertising these, e.g. `{ GPU: 1 }`. */
  resources?: Record<string, number>;
  /** Re-run this many times when the function throws. */
  retries?: number;
}

/** Arguments encoded for the wire, with the keys they depend on. */
export interface EncodedArgs {
  bytes: Buffer;
  deps: string[];
  delayed: Delayed[];
  /**
   * The futures found in the arguments. A Delayed keeps them alive: it may be
   * computed long after they were dropped, and a collected future releases its
   * key, which the graph then depends on in vain.
   */
  futures: Future[];
}

/**
 * Replace futures and delayed values inside the arguments (arrays and plain
 * objects, any depth) by key references, then encode. Throws
 * SerializationError naming each argument path that cannot be sent
 * (`args[1].cb`, or `items[3].cb` with `root: ['items[3]']` for a map item).
 */
export function encodeArgs(args: readonly unknown[], root: PathRoot = 'args'): EncodedArgs {
  // Fast path: nothing to walk (the common case of a map over plain values).
  let plain = true;
  for (const a of args) if (a !== null && typeof a === 'object') plain = false;
  if (plain) return { bytes: encodeValue(args, root), deps: NO_KEYS, delayed: NO_DELAYED, futures: NO_FUTURES };
  const deps = new Set<string>();
  const delayedDeps: Delayed[] = [];
  const futures: Future[] = [];
  const value = walkArgs(args as unknown[], 0, deps, delayedDeps, futures);
  return { bytes: encodeValue(value, root), deps: [...deps], delayed: delayedDeps, futures };
}

const NO_KEYS: string[] = [];
const NO_DELAYED: Delayed[] = [];
const NO_FUTURES: Future[] = [];

function walkArgs(v: unknown, depth: number, deps: Set<string>, delayedDeps: Delayed[], futures: Future[]): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Future) {
    deps.add(v.key);
    futures.push(v);
    return new KeyRef(v.key);
  }
  if (v instanceof Delayed) {
    if (!deps.has(v.key)) delayedDeps.push(v);
    deps.add(v.key);
    return new KeyRef(v.key);
  }
  if (depth > 32) return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const w = walkArgs(v[i], depth + 1, deps, delayedDeps, futures);
      if (w !== v[i]) (out ??= v.slice())[i] = w;
    }
    return out ?? v;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    let out: Record<string, unknown> | undefined;
    for (const [k, x] of Object.entries(v)) {
      const w = walkArgs(x, depth + 1, deps, delayedDeps, futures);
      if (w !== x) (out ??= { ...(v as Record<string, unknown>) })[k] = w;
    }
    return out ?? v;
  }
  return v;
}

/**
 * Deterministic key part: the function, the encoded arguments and any
 * resource constraints. Two independent 32-bit FNV-1a lanes (64 bits): cheap
 * enough to run per task of a large map, and collisions need ~2^32 keys.
 */
export function tokenize(fn: FunctionRef, args: Uint8Array, resources?: Record<string, number>): string {
  let seed = seeds.get(fn.id);
  if (!seed) {
    let a0 = 0x811c9dc5;
    let b0 = 0x01000193 ^ 0x5bd1e995;
    const id = fn.id;
    for (let i = 0; i <= id.length; i++) {
      const byte = i < id.length ? id.charCodeAt(i) & 0xff : 0;
      a0 = Math.imul(a0 ^ byte, 0x01000193);
      b0 = Math.imul(b0 ^ byte, 0x5bd1e995) ^ (b0 >>> 15);
    }
    seeds.set(fn.id, (seed = [a0, b0]));
  }
  let a = seed[0];
  let b = seed[1];
  for (let i = 0; i < args.length; i++) {
    const byte = args[i] as number;
    a = Math.imul(a ^ byte, 0x01000193);
    b = Math.imul(b ^ byte, 0x5bd1e995) ^ (b >>> 15);
  }
  if (resources && Object.keys(resources).length > 0) {
    const r = JSON.stringify(Object.entries(resources).sort());
    for (let i = 0; i < r.length; i++) {
      const byte = r.charCodeAt(i) & 0xff;
      a = Math.imul(a ^ byte, 0x01000193);
      b = Math.imul(b ^ byte, 0x5bd1e995) ^ (b >>> 15);
    }
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** Hash state after each function id (the id part of every key of that function). */
const seeds = new Map<string, [number, number]>();

/**
 * A lazy call: `delayed(fn)(...args)`. Keys are deterministic (same function
 * and arguments → same key), so shared sub-results are computed once.
 * Nothing runs until `client.compute(value)`, `client.persist(value)`,
 * `client.get(value)` or `value.compute()`.
 */
export class Delayed<T = unknown> {
  readonly key: string;
  readonly fn: FunctionRef;
  readonly args: EncodedArgs;
  readonly options: TaskOptions;
  declare readonly __type?: T;

  constructor(fn: FunctionRef, args: readonly unknown[], options: TaskOptions = {}) {
    this.fn = fn;
    this.args = encodeArgs(args);
    this.options = options;
    this.key = options.key ?? `${fn.name}-${tokenize(fn, this.args.bytes, options.resources)}`;
  }

  /**
   * Compute this value on the default client (the most recently connected
   * open client, as Dask's `get_client()`) and return the result. Rejects
   * with NoClientError when no client is open; `client.get(value)` names the
   * client explicitly.
   */
  async compute(): Promise<T> {
    return defaultClient().get(this);
  }

  /** Every delayed node this one depends on (and itself), dependencies first. */
  graph(): Delayed[] {
    const out: Delayed[] = [];
    const seen = new Set<string>();
    const stack: Array<[Delayed, boolean]> = [[this, false]];
    while (stack.length > 0) {
      const [node, expanded] = stack.pop() as [Delayed, boolean];
      if (expanded) {
        out.push(node);
        continue;
      }
      if (seen.has(node.key)) continue;
      seen.add(node.key);
      stack.push([node, true]);
      for (const d of node.args.delayed) if (!seen.has(d.key)) stack.push([d, false]);
    }
    return out;
  }
}

type Awaited2<T> = T extends PromiseLike<infer U> ? U : T;
/** An argument may be the value, or a delayed/future of it, also inside arrays. */
type DelayedArg<T> = T | Delayed<T> | Future<T> | (T extends ReadonlyArray<infer U> ? Array<DelayedArg<U>> : never);
type DelayedArgs<A extends unknown[]> = { [K in keyof A]: DelayedArg<A[K]> };

/** Wrap a task function so calling it builds a graph node instead of running it. */
export function delayed<A extends unknown[], R>(fn: (...args: A) => R, options?: TaskOptions): (...args: DelayedArgs<A>) => Delayed<Awaited2<R>>;
export function delayed(fn: TaskFunction, options?: TaskOptions): (...args: unknown[]) => Delayed<unknown>;
export function delayed(fn: TaskFunction, options: TaskOptions = {}): (...args: unknown[]) => Delayed<unknown> {
  const ref = functionRef(fn);
  const { key: _key, ...rest } = options; // a fixed key would make every call the same node
  return (...args: unknown[]) => new Delayed(ref, args, rest);
}
