/**
 * A tree of checks (check.ts) compiled into one straight-line predicate.
 *
 * Why: the checks are small closures, and every `object()` check shares one
 * function body, so its field loads (`v[name]`) and its calls of the field
 * checks see every message shape on the wire and go megamorphic; on a fresh
 * process, where the round trips of the first few thousand tasks run in V8's
 * baseline tiers, each closure call and each destructured field costs more
 * again. Compiled, a message is one call per object or list in it, with a
 * named load per field. With the boundary checks switched off altogether, the
 * CPU of a no-op submit→result round trip on a fresh cluster fell ~15 %
 * (bench/FINDINGS.md §2f); compiled, they cost a fraction of that.
 *
 * The predicate only says valid or not. A message it refuses is checked
 * again by the closures, which name the path and what was expected, so the
 * error is the same as before. test/unit/comm/protocol-compile.test.ts holds
 * the two to the same answer on random and mutated messages.
 *
 * The generated source holds nothing from the wire: field names and literal
 * values come from the message tables (JSON-quoted), and anything else the
 * predicate needs (Uint8Array, an opaque check) is passed in as an argument.
 */
import { HASH_PATTERN, type Check, type CheckNode, type Issue } from './check.ts';

export type Predicate = (value: unknown) => boolean;

export function compileCheck(root: Check<unknown>): Predicate {
  const helpers: string[] = [];
  const externs: unknown[] = [];
  const names = new Map<Check<unknown>, string>();

  const extern = (x: unknown): string => {
    externs.push(x);
    return `x${externs.length - 1}`;
  };
  const u8 = extern(Uint8Array);
  const hashPattern = extern(HASH_PATTERN);

  /** A helper function for a check that needs statements (lists, objects, maps); shared checks compile once. */
  function helper(c: Check<unknown>, body: (v: string) => string): string {
    let name = names.get(c);
    if (name) return name;
    name = `h${names.size}`;
    names.set(c, name);
    helpers.push(`function ${name}(v) {\n${body('v')}\n}`);
    return name;
  }

  /** An expression true when `v` (an identifier or a property load, safe to repeat) passes `c`. */
  function expr(c: Check<unknown>, v: string): string {
    const node: CheckNode = c.node;
    switch (node.k) {
      case 'str':
        return `typeof ${v} === "string"`;
      case 'hash':
        // check.ts's pattern itself (one home; a literal here would also build a RegExp per call).
        return `(typeof ${v} === "string" && ${hashPattern}.test(${v}))`;
      case 'num':
        // x - x is 0 only for finite numbers.
        return `(typeof ${v} === "number" && ${v} - ${v} === 0)`;
      case 'int':
        return `(typeof ${v} === "number" && ${v} % 1 === 0)`;
      case 'count':
        return `(typeof ${v} === "number" && ${v} % 1 === 0 && ${v} >= 0)`;
      case 'bool':
        return `typeof ${v} === "boolean"`;
      case 'bytes':
        return `${v} instanceof ${u8}`;
      case 'literal':
        return node.values.length === 0 ? 'false' : `(${node.values.map((x) => `${v} === ${JSON.stringify(x)}`).join(' || ')})`;
      case 'optional':
        return `(${v} === undefined || ${expr(node.item, v)})`;
      case 'nullable':
        return `(${v} === null || ${expr(node.item, v)})`;
      case 'oneOf':
        return node.items.length === 0 ? 'false' : `(${node.items.map((i) => expr(i, v)).join(' || ')})`;
      case 'opaque':
        return `${extern(c)}(${v}) === undefined`;
      case 'arrayOf': {
        const item = node.item;
        return `${helper(c, (a) => `if (!Array.isArray(${a})) return false;\nfor (let i = 0; i < ${a}.length; i++) { const e = ${a}[i]; if (!(${expr(item, 'e')})) return false; }\nreturn true;`)}(${v})`;
      }
      case 'tuple': {
        const items = node.items;
        return `${helper(c, (a) => `return Array.isArray(${a}) && ${a}.length === ${items.length}${items.map((it, i) => ` && ${expr(it, `${a}[${i}]`)}`).join('')};`)}(${v})`;
      }
      case 'object': {
        const fields = node.fields;
        return `${helper(c, (o) => `if (typeof ${o} !== "object" || ${o} === null || Array.isArray(${o}) || ${o} instanceof ${u8}) return false;\nreturn true${fields.map(([name, f]) => ` && ${expr(f, `${o}[${JSON.stringify(name)}]`)}`).join('')};`)}(${v})`;
      }
      case 'mapOf': {
        const item = node.item;
        return `${helper(c, (o) => `if (typeof ${o} !== "object" || ${o} === null || Array.isArray(${o}) || ${o} instanceof ${u8}) return false;\nconst ks = Object.keys(${o});\nfor (let i = 0; i < ks.length; i++) { const e = ${o}[ks[i]]; if (!(${expr(item, 'e')})) return false; }\nreturn true;`)}(${v})`;
      }
    }
  }

  const top = expr(root, 'value');
  const source = `"use strict";\n${helpers.join('\n')}\nreturn function compiledCheck(value) { return ${top}; };`;
  try {
    return new Function(...externs.map((_, i) => `x${i}`), source)(...externs) as Predicate;
  } catch (err) {
    // A process run with --disallow-code-generation-from-strings (a hardened host) keeps working, on the closures.
    if (err instanceof EvalError) return (value) => root(value) === undefined;
    throw err;
  }
}

/** `check` with its compiled predicate in front: the closures run only for a value the predicate refuses, to name the problem. */
export function withCompiled(check: Check<unknown>): (value: unknown) => Issue | undefined {
  const valid = compileCheck(check);
  return (value) => (valid(value) ? undefined : check(value));
}
