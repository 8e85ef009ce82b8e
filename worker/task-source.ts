/**
 * How a task's code and arguments look in its error: inline functions get a
 * readable frame name and file (`at parseRow (recc-inline://parseRow:3:40)`),
 * and the arguments of a failed call a short, redacted repr for TaskError.
 */
import { createRequire } from 'node:module';

/**
 * Compile an inline task function from its source. The function is the value
 * of a property named after it, so an anonymous arrow takes the name (V8
 * infers it from the key) without a binding that could shadow a global its
 * body uses; a named function expression keeps its own name. `sourceURL`
 * gives the frames a file name instead of `<anonymous>`.
 */
export function compileInline(name: string, source: string): (...args: unknown[]) => unknown {
  const label = name || 'lambda';
  const key = JSON.stringify(label);
  const fn: unknown = new Function(`"use strict";\nreturn ({ ${key}: (${source}\n) })[${key}];\n//# sourceURL=recc-inline://${encodeURIComponent(label)}`)();
  if (typeof fn !== 'function') throw new TypeError(`inline function ${name} did not compile to a function`);
  return fn as (...args: unknown[]) => unknown;
}

/** Object keys whose values never appear in an error (they travel to the client and its logs). */
const SECRET_KEY = /pass(word|wd)?|secret|token|api[-_]?key|credential|auth|private[-_]?key|session|cookie/i;
const MAX_REPR = 200;
const MAX_ITEMS = 3;
const MAX_DEPTH = 3;

/** Stands for the items of an array left out of the repr. */
class More {
  constructor(readonly n: number) {}
  // util.inspect.custom (a registered symbol), without loading node:util here.
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `… ${this.n} more`;
  }
}

/**
 * `({ path: '/data/x.csv', token: '[redacted]' }, [ 0, 1, 2, … 497 more ])`:
 * at most 200 characters, three items per array, long strings cut, values
 * under secret-looking keys replaced.
 */
export function reprArgs(args: readonly unknown[]): string {
  try {
    // Required on use (a failed call), not imported: loading node:util costs every task thread's start.
    const { inspect } = createRequire(import.meta.url)('node:util') as typeof import('node:util');
    const parts = args.map((a) => inspect(redact(a, 0), { depth: MAX_DEPTH, maxArrayLength: MAX_ITEMS, maxStringLength: 40, breakLength: Infinity, compact: true, colors: false }));
    const s = `(${parts.join(', ')})`;
    return s.length > MAX_REPR ? `${s.slice(0, MAX_REPR - 2)}…)` : s;
  } catch {
    // An argument whose inspection throws (a hostile getter) must not hide the task's own error.
    return `(${args.length} argument${args.length === 1 ? '' : 's'})`;
  }
}

function redact(v: unknown, depth: number): unknown {
  if (v === null || typeof v !== 'object' || depth > MAX_DEPTH) return v;
  if (Array.isArray(v)) {
    const head = v.slice(0, MAX_ITEMS).map((x) => redact(x, depth + 1));
    return v.length > MAX_ITEMS ? [...head, new More(v.length - MAX_ITEMS)] : head;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = SECRET_KEY.test(k) ? '[redacted]' : redact(x, depth + 1);
  return out;
}
