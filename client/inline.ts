import { parse } from 'acorn';
import { InlineFunctionError } from './errors.ts';

/**
 * Inline task functions ship as source text, so they must not capture
 * variables from the scope they were written in. This finds the free
 * identifiers of a function's source (names used but declared neither inside
 * it nor as globals) and rejects the function if there are any.
 *
 * One free name is not a capture: esbuild's keepNames (on in tsx, and in
 * bundles built with it) rewrites `const sq = (v) => v * v` inside a function
 * as `const sq = __name((v) => v * v, "sq")`, calling a helper of the module.
 * Calls of exactly that form, `__name(<expression>, "<string>")` with
 * `__name` free (esbuild may number it, `__name2`, to avoid a clash), are
 * replaced by their first argument before shipping; the name they set is the
 * one JavaScript infers anyway. Any other use of such a name is still refused
 * as an outer variable.
 */

type Node = { type: string; [k: string]: unknown };

const cache = new Map<string, string>();

/** Returns the shippable source of `fn` or throws InlineFunctionError. */
export function inlineSource(fn: (...args: never[]) => unknown): string {
  const raw = Function.prototype.toString.call(fn);
  const hit = cache.get(raw);
  if (hit !== undefined) return hit;
  const name = fn.name || '(anonymous)';
  if (/\{\s*\[native code\]\s*\}\s*$/.test(raw)) {
    throw new InlineFunctionError(`function ${name} is native or bound and cannot ship as source; wrap it in an arrow function or use client.module(path)`);
  }
  let source = raw;
  let ast: Node;
  try {
    ast = parseWrapped(source);
  } catch {
    // Method shorthand (`name() { … }`): make it a function expression.
    source = /^async\s/.test(raw) ? `async function ${raw.replace(/^async\s+/, '')}` : `function ${raw}`;
    try {
      ast = parseWrapped(source);
    } catch (err) {
      throw new InlineFunctionError(`cannot parse the source of function ${name}: ${(err as Error).message}; use client.module(path)`);
    }
  }
  const stripped = stripNameHelpers(source, ast);
  if (stripped !== source) {
    source = stripped;
    ast = parseWrapped(source);
  }
  const free = freeVariables(ast).filter((v) => !(v in globalThis) && v !== 'arguments');
  if (free.length > 0) {
    throw new InlineFunctionError(
      `inline function ${name} refers to outer variable${free.length > 1 ? 's' : ''} ${free.map((v) => `"${v}"`).join(', ')}. ` +
        'Inline functions ship as source and cannot capture variables: pass the value as an argument, ' +
        "or put the function in a module and use client.module(path).fn('exportName')",
      free,
    );
  }
  cache.set(raw, source);
  return source;
}

/** The function source wrapped in parentheses (so positions are offset by one). */
function parseWrapped(source: string): Node {
  return parse(`(${source})`, { ecmaVersion: 'latest', sourceType: 'script' }) as unknown as Node;
}

/** The name esbuild gives its keepNames helper (numbered when the module has its own `__name`). */
const NAME_HELPER = /^__name\d*$/;

/** `helper(<expression>, "<string>")`: the only form esbuild's keepNames emits. */
function isHelperCall(n: Node, helper: string): boolean {
  if (n.type !== 'CallExpression' || n.optional) return false;
  const callee = n.callee as Node;
  const args = n.arguments as Node[];
  return (
    callee.type === 'Identifier' && callee.name === helper && args.length === 2 &&
    (args[0] as Node).type !== 'SpreadElement' && (args[1] as Node).type === 'Literal' && typeof (args[1] as Node).value === 'string'
  );
}

/**
 * Replace each call of a free keepNames helper by its first argument
 * (parenthesised), when every use of that helper has the helper form.
 * Returns the source unchanged otherwise.
 */
function stripNameHelpers(source: string, ast: Node): string {
  const { declared, refs } = scan(ast);
  const helpers = [...refs.keys()].filter((n) => NAME_HELPER.test(n) && !declared.has(n));
  const calls: Node[] = [];
  for (const helper of helpers) {
    const found: Node[] = [];
    walk(ast, (n) => {
      if (isHelperCall(n, helper)) found.push(n);
    });
    // Each helper call is one reference (its callee); any other reference is a real use of an outer variable.
    if (found.length === refs.get(helper)) calls.push(...found);
  }
  if (calls.length === 0) return source;
  calls.sort((a, b) => (a.start as number) - (b.start as number));
  // Positions are in the wrapped text `(${source})`.
  const text = `(${source})`;
  const emit = (from: number, to: number, i: number): [string, number] => {
    let out = '';
    let at = from;
    while (i < calls.length && (calls[i] as Node).start as number < to) {
      const call = calls[i] as Node;
      const inner = (call.arguments as Node[])[0] as Node;
      out += text.slice(at, call.start as number);
      // Helper calls nested inside the first argument are rewritten too.
      const [body, next] = emit(inner.start as number, inner.end as number, i + 1);
      out += `(${body})`;
      at = call.end as number;
      i = next;
      while (i < calls.length && ((calls[i] as Node).start as number) < at) i++;
    }
    return [out + text.slice(at, to), i];
  };
  return emit(1, text.length - 1, 0)[0];
}

/** Visit every AST node. */
function walk(node: unknown, visit: (n: Node) => void): void {
  if (!node || typeof node !== 'object') return;
  if (Array.isArray(node)) {
    for (const c of node) walk(c, visit);
    return;
  }
  const n = node as Node;
  if (typeof n.type !== 'string') return;
  visit(n);
  for (const [k, v] of Object.entries(n)) {
    if (k === 'type' || k === 'start' || k === 'end' || k === 'loc' || k === 'range') continue;
    if (v && typeof v === 'object') walk(v, visit);
  }
}

/** Free identifiers of an AST (declarations are collected over all scopes, which may under-report). */
export function freeVariables(ast: Node): string[] {
  const { declared, refs } = scan(ast);
  return [...refs.keys()].filter((u) => !declared.has(u)).sort();
}

/** Names declared anywhere in the AST, and how many times each name is referenced. */
function scan(ast: Node): { declared: Set<string>; refs: Map<string, number> } {
  const declared = new Set<string>();
  const refs = new Map<string, number>();
  const declare = (p: unknown): void => {
    const n = p as Node | null;
    if (!n) return;
    switch (n.type) {
      case 'Identifier':
        declared.add(n.name as string);
        return;
      case 'ObjectPattern':
        for (const prop of n.properties as Node[]) declare(prop.type === 'RestElement' ? prop.argument : prop.value);
        return;
      case 'ArrayPattern':
        for (const el of n.elements as Node[]) declare(el);
        return;
      case 'RestElement':
        declare(n.argument);
        return;
      case 'AssignmentPattern':
        declare(n.left);
        return;
    }
  };
  const visit = (node: unknown, parent: Node | null, field: string): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const c of node) visit(c, parent, field);
      return;
    }
    const n = node as Node;
    if (typeof n.type !== 'string') return;
    switch (n.type) {
      case 'Identifier': {
        if (parent) {
          if ((parent.type === 'MemberExpression' && field === 'property' && !parent.computed) ||
              ((parent.type === 'Property' || parent.type === 'MethodDefinition' || parent.type === 'PropertyDefinition') && field === 'key' && !parent.computed) ||
              ((parent.type === 'LabeledStatement' || parent.type === 'BreakStatement' || parent.type === 'ContinueStatement') && field === 'label') ||
              parent.type === 'MetaProperty') {
            return;
          }
        }
        refs.set(n.name as string, (refs.get(n.name as string) ?? 0) + 1);
        return;
      }
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        if (n.id) declare(n.id);
        for (const p of n.params as Node[]) declare(p);
        break;
      case 'ClassDeclaration':
      case 'ClassExpression':
        if (n.id) declare(n.id);
        break;
      case 'VariableDeclarator':
        declare(n.id);
        break;
      case 'CatchClause':
        declare(n.param);
        break;
    }
    for (const [k, v] of Object.entries(n)) {
      if (k === 'type' || k === 'start' || k === 'end' || k === 'loc' || k === 'range') continue;
      if (v && typeof v === 'object') visit(v, n, k);
    }
  };
  visit(ast, null, '');
  return { declared, refs };
}
