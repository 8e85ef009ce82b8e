import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { object, str, type Check, type Shape } from '../../../comm/protocol/check.ts';
import { compileCheck } from '../../../comm/protocol/compile.ts';
import { clientToScheduler, dataReply, dataRequest, replies, schedulerToClient, schedulerToWorker, workerToScheduler } from '../../../comm/protocol/messages.ts';

/**
 * The compiled predicate (compile.ts) decides the common case alone; the
 * closures only run to name the problem. The two must give the same answer on
 * every value, valid or not, for every op of every table.
 */
const tables: Record<string, Record<string, Shape>> = { clientToScheduler, replies, schedulerToClient, schedulerToWorker, workerToScheduler, dataRequest, dataReply };

/** Values that pass `c` (opaque checks have no generator: their ops are covered by the mutation and anything() runs). */
function validOf(c: Check<unknown>): fc.Arbitrary<unknown> | undefined {
  const n = c.node;
  switch (n.k) {
    case 'str':
      return fc.string({ maxLength: 4 });
    case 'hash':
      return fc.stringMatching(/^[0-9a-f]{32}$/);
    case 'num':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'int':
      return fc.oneof(fc.integer(), fc.constantFrom(2 ** 40, -(2 ** 40), -0));
    case 'count':
      return fc.oneof(fc.nat(), fc.constant(2 ** 40));
    case 'bool':
      return fc.boolean();
    case 'bytes':
      return fc.oneof(fc.uint8Array({ maxLength: 3 }), fc.constant(Buffer.from('ab')));
    case 'literal':
      return fc.constantFrom(...n.values);
    case 'optional': {
      const a = validOf(n.item);
      return a && fc.option(a, { nil: undefined });
    }
    case 'nullable': {
      const a = validOf(n.item);
      return a && fc.option(a, { nil: null });
    }
    case 'oneOf': {
      const as = n.items.map(validOf);
      return as.every(Boolean) ? fc.oneof(...(as as Array<fc.Arbitrary<unknown>>)) : undefined;
    }
    case 'arrayOf': {
      const a = validOf(n.item);
      return a && fc.array(a, { maxLength: 3 });
    }
    case 'tuple': {
      const as = n.items.map(validOf);
      return as.every(Boolean) ? fc.tuple(...(as as Array<fc.Arbitrary<unknown>>)) : undefined;
    }
    case 'mapOf': {
      const a = validOf(n.item);
      return a && fc.dictionary(fc.string({ maxLength: 3 }), a, { maxKeys: 3 });
    }
    case 'object': {
      const fields: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, f] of n.fields) {
        const a = validOf(f);
        if (!a) return undefined;
        fields[name] = a;
      }
      return fc.record(fields, { requiredKeys: n.fields.filter(([, f]) => !f.optional).map(([name]) => name) });
    }
    case 'opaque':
      return undefined;
  }
}

/** `value` with the node at index `at` (depth-first over arrays and plain objects) replaced, or a field of it deleted. */
function mutate(value: unknown, at: number, replacement: unknown, remove: boolean): unknown {
  let i = 0;
  const walk = (v: unknown): unknown => {
    if (i++ === at) return replacement;
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
      const out: Record<string, unknown> = {};
      const entries = Object.entries(v);
      for (const [k, x] of entries) {
        if (remove && i === at) {
          i++;
          continue;
        }
        out[k] = walk(x);
      }
      return out;
    }
    return v;
  };
  return walk(value);
}

const odd = fc.oneof(
  fc.anything({ withNullPrototype: true, withBigInt: true, withTypedArray: true, withSparseArray: true, withObjectString: true, withBoxedValues: true }),
  fc.constantFrom(NaN, Infinity, -Infinity, 0.5, -1, '', '__proto__', 'constructor', null, undefined, [], {}, new Uint8Array(0), Object.create(null)),
);

describe('compiled boundary checks', () => {
  for (const [tableName, table] of Object.entries(tables)) {
    for (const [op, shape] of Object.entries(table)) {
      const check = object(shape);
      const compiled = compileCheck(check);
      const valid = validOf(check);
      it(`${tableName} ${op}: the predicate and the closures agree`, () => {
        if (valid) {
          fc.assert(
            fc.property(valid, (v) => {
              expect(check(v)).toBeUndefined();
              expect(compiled(v)).toBe(true);
            }),
            { numRuns: 150 },
          );
          fc.assert(
            fc.property(valid, fc.nat({ max: 40 }), odd, fc.boolean(), (v, at, replacement, remove) => {
              const m = mutate(v, at, replacement, remove);
              expect(compiled(m)).toBe(check(m) === undefined);
            }),
            { numRuns: 300 },
          );
        }
        fc.assert(
          fc.property(odd, (v) => {
            expect(compiled(v)).toBe(check(v) === undefined);
          }),
          { numRuns: 100 },
        );
      });
    }
  }

  it('refuses what the closures refuse, on a hand-picked set', () => {
    const c = object({ k: str });
    const p = compileCheck(c);
    for (const v of [null, undefined, [], new Uint8Array(1), { k: 1 }, {}, 'k', Object.create(null)]) expect(p(v)).toBe(c(v) === undefined);
    expect(p({ k: 'x', extra: 1 })).toBe(true);
  });

  it('falls back to the closures where code generation from strings is disallowed (a hardened host)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'recc-nocodegen-'));
    try {
      const script = join(dir, 'decode.mts');
      const protocol = fileURLToPath(new URL('../../../comm/protocol.ts', import.meta.url));
      writeFileSync(
        script,
        `const { decodeWorkerToScheduler } = await import(${JSON.stringify(protocol)});
const ok = decodeWorkerToScheduler({ op: 'finished', k: ['a'], n: [3], ms: [0.5], di: [-1] });
let refused = '';
try { decodeWorkerToScheduler({ op: 'finished', k: ['a'], n: [-1], ms: [0.5], di: [-1] }); } catch (err) { refused = err.name + ': ' + err.message; }
console.log(JSON.stringify({ ok: ok.k, refused }));`,
      );
      const out = execFileSync(process.execPath, ['--disallow-code-generation-from-strings', '--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
      const got = JSON.parse(out.trim().split('\n').pop() as string) as { ok: string[]; refused: string };
      expect(got.ok).toEqual(['a']);
      expect(got.refused).toMatch(/^ProtocolError: bad "finished" message: n\[0\]: expected a non-negative integer, got the number -1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('puts no field name into the source unquoted', () => {
    const c = object({ 'a"); throw new Error("x': str, constructor: str, __proto__x: str } as Shape);
    const p = compileCheck(c);
    expect(p({ 'a"); throw new Error("x': 'v', constructor: 'c', __proto__x: 'p' })).toBe(true);
    expect(p({ constructor: 'c' })).toBe(false);
  });
});
