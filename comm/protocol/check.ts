/**
 * Tiny hand-written validators for wire messages. One table of these per
 * direction (messages.ts) yields both the TypeScript types (`Infer`) and the
 * runtime check, so the two cannot drift apart.
 *
 * Why not zod here: the hot path is batched messages of thousands of keys;
 * these checks allocate nothing on success (an issue object is built only on
 * failure, its path filled in while unwinding), which keeps the boundary
 * check a few per cent of msgpack decoding (bench/micro-protocol.ts). The
 * decoders run a compiled form of each message's check (compile.ts) and call
 * these closures only to name what is wrong with a message it refused.
 * zod stays out entirely: these modules are bundled into the scheduler and
 * worker processes, and zod alone would quadruple the bundle and its start time.
 */

/** What went wrong, where: `path` from the message root (filled in while unwinding). */
export interface Issue {
  path: Array<string | number>;
  expected: string;
  got: string;
}

/**
 * A check returns undefined when the value is valid. `_type` only carries the
 * inferred type; `node` says what the check is, for compile.ts.
 */
export interface Check<T> {
  (value: unknown): Issue | undefined;
  readonly expected: string;
  readonly optional?: boolean;
  readonly node: CheckNode;
  readonly _type?: T;
}

/** The structure of a check: compile.ts turns a tree of them into one straight-line predicate per message. */
export type CheckNode =
  | { readonly k: 'str' | 'num' | 'int' | 'count' | 'bool' | 'bytes' | 'hash' }
  | { readonly k: 'literal'; readonly values: ReadonlyArray<string | number | boolean | null> }
  | { readonly k: 'optional' | 'nullable' | 'arrayOf' | 'mapOf'; readonly item: Check<unknown> }
  | { readonly k: 'oneOf' | 'tuple'; readonly items: ReadonlyArray<Check<unknown>> }
  | { readonly k: 'object'; readonly fields: ReadonlyArray<readonly [string, Check<unknown>]> }
  /** Checked by calling the check itself (fromIssues). */
  | { readonly k: 'opaque' };

export type Infer<C> = C extends Check<infer T> ? T : never;
export type Shape = Record<string, Check<unknown>>;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends { readonly optional: true } ? K : never }[keyof S];
export type InferShape<S extends Shape> = Simplify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

/** A short description of a value for error messages (never the value itself: it may be large or secret). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Uint8Array) return `${value.byteLength} bytes`;
  if (typeof value === 'number') return Number.isFinite(value) ? `the number ${value}` : `${value}`;
  return `a ${typeof value}`;
}

function issue(expected: string, value: unknown): Issue {
  return { path: [], expected, got: describe(value) };
}

function make<T>(expected: string, node: CheckNode, fn: (value: unknown) => Issue | undefined, optional = false): Check<T> {
  return Object.assign(fn, { expected, node, ...(optional ? { optional: true } : {}) }) as Check<T>;
}

export const str: Check<string> = make('a string', { k: 'str' }, (v) => (typeof v === 'string' ? undefined : issue('a string', v)));
/**
 * A module's content hash: the first 32 lowercase hex digits of its sha256. Workers name the module's file after
 * it, so anything else (a path, `..`) is refused at the boundary.
 */
export const HASH_PATTERN = /^[0-9a-f]{32}$/;
export const hash: Check<string> = make('a module hash (32 lowercase hex digits)', { k: 'hash' }, (v) =>
  typeof v === 'string' && HASH_PATTERN.test(v) ? undefined : issue('a module hash (32 lowercase hex digits)', v),
);
/** A finite number. */
export const num: Check<number> = make('a number', { k: 'num' }, (v) => (typeof v === 'number' && Number.isFinite(v) ? undefined : issue('a number', v)));
export const int: Check<number> = make('an integer', { k: 'int' }, (v) => (Number.isInteger(v) ? undefined : issue('an integer', v)));
export const count: Check<number> = make('a non-negative integer', { k: 'count' }, (v) =>
  Number.isInteger(v) && (v as number) >= 0 ? undefined : issue('a non-negative integer', v),
);
export const bool: Check<boolean> = make('a boolean', { k: 'bool' }, (v) => (typeof v === 'boolean' ? undefined : issue('a boolean', v)));
export const bytes: Check<Uint8Array> = make('bytes', { k: 'bytes' }, (v) => (v instanceof Uint8Array ? undefined : issue('bytes', v)));

export function literal<const L extends string | number | boolean | null>(...values: L[]): Check<L> {
  const expected = values.map((v) => JSON.stringify(v)).join(' or ');
  return make(expected, { k: 'literal', values }, (v) => (values.includes(v as L) ? undefined : issue(expected, v)));
}

export function optional<T>(check: Check<T>): Check<T | undefined> & { readonly optional: true } {
  return make<T | undefined>(check.expected, { k: 'optional', item: check as Check<unknown> }, (v) => (v === undefined ? undefined : check(v)), true) as Check<T | undefined> & { readonly optional: true };
}

export function nullable<T>(check: Check<T>): Check<T | null> {
  return make(`${check.expected} or null`, { k: 'nullable', item: check as Check<unknown> }, (v) => (v === null ? undefined : check(v)));
}

/** The first alternative that fits; the issue of the last one otherwise (alternatives are few and distinct). */
export function oneOf<A extends Array<Check<unknown>>>(...checks: A): Check<Infer<A[number]>> {
  const expected = checks.map((c) => c.expected).join(' or ');
  return make(expected, { k: 'oneOf', items: checks }, (v) => {
    let last: Issue | undefined;
    for (const c of checks) {
      last = c(v);
      if (!last) return undefined;
    }
    return last && last.path.length > 0 ? last : issue(expected, v);
  });
}

export function arrayOf<T>(item: Check<T>): Check<T[]> {
  const expected = `a list of ${item.expected}`;
  // No per-type fast paths here: messages are accepted by the compiled predicate (compile.ts), and this closure runs only
  // to name the element a refused message got wrong.
  return make(expected, { k: 'arrayOf', item: item as Check<unknown> }, (v) => {
    if (!Array.isArray(v)) return issue(expected, v);
    for (let i = 0; i < v.length; i++) {
      const r = item(v[i]);
      if (r) {
        r.path.unshift(i);
        return r;
      }
    }
    return undefined;
  });
}

export function tuple<const A extends Array<Check<unknown>>>(...items: A): Check<{ [I in keyof A]: Infer<A[I]> }> {
  const expected = `a [${items.map((c) => c.expected).join(', ')}] pair`;
  return make(expected, { k: 'tuple', items }, (v) => {
    if (!Array.isArray(v) || v.length !== items.length) return issue(expected, v);
    for (let i = 0; i < items.length; i++) {
      const r = (items[i] as Check<unknown>)(v[i]);
      if (r) {
        r.path.unshift(i);
        return r;
      }
    }
    return undefined;
  });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** An object with these fields (other fields are ignored: newer peers may add some). */
export function object<S extends Shape>(shape: S): Check<InferShape<S>> {
  const fields = Object.entries(shape);
  return make('an object', { k: 'object', fields }, (v) => {
    if (!isPlainObject(v)) return issue('an object', v);
    for (let i = 0; i < fields.length; i++) {
      const [name, check] = fields[i] as [string, Check<unknown>];
      const r = check(v[name]);
      if (r) {
        r.path.unshift(name);
        return r;
      }
    }
    return undefined;
  });
}

/** An object used as a map from names to values of one kind. */
export function mapOf<T>(value: Check<T>): Check<Record<string, T>> {
  const expected = `an object of ${value.expected}`;
  return make(expected, { k: 'mapOf', item: value as Check<unknown> }, (v) => {
    if (!isPlainObject(v)) return issue(expected, v);
    for (const k of Object.keys(v)) {
      const r = value(v[k]);
      if (r) {
        r.path.unshift(k);
        return r;
      }
    }
    return undefined;
  });
}

/**
 * A check from a validator that lists every problem (path and message), for
 * shapes whose one definition lives outside the wire code (shared/engine).
 * The first problem is reported, as for every other check.
 */
export function fromIssues<T>(expected: string, issuesOf: (value: unknown) => ReadonlyArray<{ path: string; message: string }>): Check<T> {
  return make(expected, { k: 'opaque' }, (v) => {
    const first = issuesOf(v)[0];
    if (!first) return undefined;
    return { path: first.path === '' ? [] : first.path.split('.'), expected: first.message, got: describe(v) };
  });
}

/** `a.b[3].c` */
export function formatPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}
