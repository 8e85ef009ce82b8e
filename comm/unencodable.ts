import type { ErrorDetail } from '../shared/core/errors.ts';
import { SerializationError } from './errors.ts';

/**
 * What msgpackr cannot carry faithfully. Left alone it writes a function as
 * nil, a WeakMap or a Promise as `{}`, and a class instance as a plain object
 * without its methods, so a task's result arrived as `undefined` or a husk
 * with no error. `describeUnencodable` says why a value cannot travel; the
 * encoder refuses such values and `encodeFailure` names every path.
 */

/** Where a value sits: a path root (`result`, `args`) or, for an array value, a root per element (`items[3]`). */
export type PathRoot = string | readonly string[];

const TypedArray = Object.getPrototypeOf(Uint8Array) as abstract new () => ArrayBufferView;

/** Builtins whose prototype methods are state the encoder cannot read (their instances would arrive as `{}`). */
const OPAQUE_TAGS: Readonly<Record<string, string>> = {
  Promise: 'a Promise: await it first (a task may return a Promise, which is awaited, but not hold one inside its value)',
  WeakMap: 'a WeakMap: its entries cannot be read, so it would arrive empty; use a Map',
  WeakSet: 'a WeakSet: its entries cannot be read, so it would arrive empty; use a Set',
  WeakRef: 'a WeakRef: it cannot be sent; send the object it refers to',
  FinalizationRegistry: 'a FinalizationRegistry: it cannot be sent',
  Generator: 'a generator: collect its values into an array first',
  AsyncGenerator: 'an async generator: collect its values into an array first',
  Number: 'a boxed Number (new Number(…)): send the primitive value',
  String: 'a boxed String (new String(…)): send the primitive value',
  Boolean: 'a boxed Boolean (new Boolean(…)): send the primitive value',
  BigInt: 'a boxed BigInt (Object(…n)): send the primitive value',
  Symbol: 'a boxed Symbol: symbols cannot be sent',
  SharedArrayBuffer: 'a SharedArrayBuffer: wrap it in a Uint8Array',
};

/**
 * Why `v` cannot be encoded without loss, or undefined if it can (or if its
 * members, checked separately, decide). Cheap for the common cases, since
 * the encoder asks it about every non-plain object it meets.
 */
export function describeUnencodable(v: unknown): string | undefined {
  if (typeof v === 'function') return `a function${v.name ? ` (${v.name})` : ''}: functions cannot be sent; send data and define the function in the task`;
  if (typeof v === 'symbol') return `a symbol${v.description ? ` (${v.description})` : ''}: symbols cannot be sent`;
  if (v === null || typeof v !== 'object') return undefined;
  const proto = Object.getPrototypeOf(v) as object | null;
  if (proto === null || proto === Object.prototype || Array.isArray(v)) return undefined;
  // Builtins the encoder carries (KeyRef and other extensions are found by the caller first).
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Date || v instanceof Set || v instanceof Error || v instanceof RegExp) return undefined;
  if (v instanceof Map) return v.constructor === Map ? undefined : `an instance of ${className(v)} (a Map subclass): it would arrive as an empty object; use a plain Map`;
  const tag = Object.prototype.toString.call(v).slice(8, -1);
  const opaque = OPAQUE_TAGS[tag];
  if (opaque) return opaque;
  if (tag.endsWith('Iterator')) return `an iterator (${tag}): collect its values into an array first`;
  // A toJSON method chooses the encoding (as URL's does).
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return undefined;
  const members = prototypeMembers(proto);
  if (members.length === 0) return undefined; // data-only class: arrives as a plain object with the same fields
  const shown = members.slice(0, 5).join(', ') + (members.length > 5 ? ', …' : '');
  return `an instance of class ${className(v)}: it would arrive as a plain object without its methods (${shown}); send plain data, or give the class a toJSON() method`;
}

function className(v: object): string {
  const ctor = (v as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name ? ctor.name : '(anonymous)';
}

/** Own members of the prototype chain below Object.prototype, other than `constructor`. */
function prototypeMembers(proto: object): string[] {
  const names: string[] = [];
  for (let p: object | null = proto; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    for (const name of Object.getOwnPropertyNames(p)) if (name !== 'constructor' && !names.includes(name)) names.push(name);
  }
  return names;
}

const MAX_PROBLEMS = 10;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Every path (up to 10) under `root` that holds something that cannot be encoded. */
export function findUnencodable(value: unknown, root: PathRoot): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  const seen = new Set<object>();
  const visit = (v: unknown, path: string): void => {
    if (problems.length >= MAX_PROBLEMS) return;
    const why = describeUnencodable(v);
    if (why) {
      problems.push({ path, message: why });
      return;
    }
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) visit(v[i], `${path}[${i}]`);
    } else if (v instanceof Map) {
      let i = 0;
      for (const [k, x] of v) {
        visit(k, `${path}.keys()[${i}]`);
        visit(x, `${path}.get(${mapKey(k, i)})`);
        i++;
      }
    } else if (v instanceof Set) {
      let i = 0;
      for (const x of v) visit(x, `${path}.values()[${i++}]`);
    } else if (typeof (v as { toJSON?: unknown }).toJSON === 'function' && !(v instanceof Date)) {
      let json: unknown;
      try {
        json = (v as { toJSON: () => unknown }).toJSON();
      } catch {
        return;
      }
      if (json !== v) visit(json, `${path}.toJSON()`);
    } else if (!ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer) && !(v instanceof Error) && !(v instanceof TypedArray)) {
      for (const k of Object.keys(v)) {
        const at = IDENTIFIER.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
        let x: unknown;
        try {
          x = (v as Record<string, unknown>)[k];
        } catch (err) {
          problems.push({ path: at, message: `a property whose getter threw: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}` });
          continue;
        }
        visit(x, at);
      }
    }
  };
  if (typeof root === 'string') visit(value, root);
  else if (Array.isArray(value)) for (let i = 0; i < value.length; i++) visit(value[i], root[i] ?? `[${i}]`);
  else visit(value, root[0] ?? 'value');
  return problems;
}

function mapKey(k: unknown, i: number): string {
  if (typeof k === 'string') return JSON.stringify(k);
  if (typeof k === 'number' || typeof k === 'boolean') return String(k);
  if (typeof k === 'bigint') return `${k}n`;
  return `<key ${i}>`;
}

/** The error for a value the encoder refused (or failed on for another reason). */
export function encodeFailure(value: unknown, root: PathRoot, cause: unknown): SerializationError {
  const what = typeof root === 'string' ? root : root.join(', ');
  let problems: ErrorDetail[];
  try {
    problems = findUnencodable(value, root);
  } catch {
    problems = []; // too deep to walk (the encoder's own error says so)
  }
  const first = problems[0];
  if (first) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more: ${problems.slice(1).map((p) => p.path).join(', ')})` : '';
    return new SerializationError(`cannot send ${what}: ${first.path} is ${first.message}${more}`, problems, { cause });
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return new SerializationError(`cannot send ${what}: ${message}`, [{ path: typeof root === 'string' ? root : '', message }], { cause });
}
