import { parse } from 'acorn';
import { InlineFunctionError } from './errors.ts';

/**
 * Inline task functions ship as source text, so they must not capture
 * variables from the scope they were written in. This finds the free
 * identifiers of a function's source (names used but declared neither inside
 * it nor as globals) and rejects the function if there are any.
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
    ast = parse(`(${source})`, { ecmaVersion: 'latest', sourceType: 'script' }) as unknown as Node;
  } catch {
    // Method shorthand (`name() { … }`): make it a function expression.
    source = /^async\s/.test(raw) ? `async function ${raw.replace(/^async\s+/, '')}` : `function ${raw}`;
    try {
      ast = parse(`(${source})`, { ecmaVersion: 'latest', sourceType: 'script' }) as unknown as Node;
    } catch (err) {
      throw new InlineFunctionError(`cannot parse the source of function ${name}: ${(err as Error).message}; use client.module(path)`);
    }
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

/** Free identifiers of an AST (declarations are collected over all scopes, which may under-report). */
export function freeVariables(ast: Node): string[] {
  const declared = new Set<string>();
  const used = new Set<string>();
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
        used.add(n.name as string);
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
  return [...used].filter((u) => !declared.has(u)).sort();
}
