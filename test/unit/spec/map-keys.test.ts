import { describe, expect, it } from 'vitest';
import { budgetFor } from '../../../shared/cost/alerts.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import { SpecValidationError } from '../../../shared/spec/errors.ts';
import { mergeLayers, resolveSpec } from '../../../shared/spec/resolve.ts';
import { defaultSpec } from '../../../shared/spec/defaults.ts';
import { satisfies } from '../../../scheduler/state/machine.ts';
import { planFixture, specFixture } from '../../support/local-stack-fixtures.ts';

/**
 * User-keyed maps (`env`, `tags`, `resources`) whose keys shadow
 * `Object.prototype` members, and the key rules of each map (issue 18 #3).
 * The HTTP-level fuzz is in test/integration/api/map-keys-fuzz.test.ts.
 */
const PROTOTYPE_NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'prototype'];

function problems(overrides: Record<string, unknown>): { path: string; message: string }[] {
  try {
    resolveSpec({ template: 'small', overrides });
  } catch (err) {
    if (err instanceof SpecValidationError) return err.details;
    throw err;
  }
  return [];
}

describe('Function: mergeLayers', () => {
  it('keeps keys named like Object.prototype members as ordinary entries, and removes them on null', () => {
    // Prepare
    const env = Object.fromEntries(PROTOTYPE_NAMES.map((k) => [k, `v-${k}`]));

    // Act
    const merged = mergeLayers(defaultSpec(), [{ env, tags: { constructor: 'a' } }, { env: { toString: null } }]);

    // Assess
    expect(Object.keys(merged.env).sort()).toEqual(PROTOTYPE_NAMES.filter((k) => k !== 'toString').sort());
    expect(merged.env.constructor).toBe('v-constructor');
    expect(Object.hasOwn(merged.tags, 'constructor')).toBe(true);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
  });

  it('never lets a __proto__ entry change a prototype', () => {
    // Prepare: JSON.parse makes `__proto__` an own key, as an HTTP body would.
    const layer = JSON.parse('{"env": {"__proto__": {"polluted": "yes"}}, "__proto__": {"nWorkers": 99}}') as Record<string, unknown>;

    // Act
    const merged = mergeLayers(defaultSpec(), [layer]);

    // Assess
    expect(Object.getPrototypeOf(merged.env)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('Function: resolveSpec (map keys)', () => {
  it('accepts POSIX env names that shadow Object.prototype members', () => {
    expect(problems({ env: Object.fromEntries(PROTOTYPE_NAMES.map((k) => [k, 'y'])) })).toEqual([]);
  });

  it.each([
    ['env', '__proto__', 'is reserved'],
    ['tags', '__proto__', 'is reserved'],
    ['resources', '__proto__', 'is reserved'],
    ['env', '1ABC', 'not start with a digit'],
    ['env', 'A-B', 'use letters, digits and "_"'],
    ['env', 'ÄÖ', 'use letters, digits and "_"'],
    ['env', 'X'.repeat(257), 'at most 256 characters (got 257)'],
    ['tags', 'aws:cost', 'reserved by AWS'],
    ['tags', 'AWS:cost', 'reserved by AWS'],
    ['tags', 'k'.repeat(129), 'at most 128 characters (got 129)'],
    ['tags', 'a;b', 'letters, digits, spaces and _ . : / = + - @'],
    ['tags', '🔑', 'letters, digits, spaces and _ . : / = + - @'],
    ['resources', 'r'.repeat(129), 'at most 128 characters (got 129)'],
  ])('refuses %s key %j naming the path', (field, key, expected) => {
    const body = JSON.parse(`{"${field}": {${JSON.stringify(key)}: ${field === 'resources' ? 1 : '"y"'}}}`) as Record<string, unknown>;
    const found = problems(body);
    expect(found).toEqual([expect.objectContaining({ path: `${field}.${key}`, message: expect.stringContaining(expected) })]);
  });

  it('refuses an empty key, naming the map', () => {
    expect(problems({ env: { '': 'y' } })).toEqual([{ path: 'env', message: 'environment variable names must not be empty' }]);
    expect(problems({ tags: { '': 'y' } })).toEqual([{ path: 'tags', message: 'tag keys must not be empty' }]);
  });

  it('accepts tag keys and values in any script, as AWS does', () => {
    expect(problems({ tags: { 'Kostenstelle': 'Forschung & Lehre'.replace('&', '+'), '部署': '研究', 'team:a/b': 'x=y@z' } })).toEqual([]);
  });

  it.each([
    ['env', { A: 'x'.repeat(4097) }, 'env.A', 'at most 4096 characters'],
    ['env', { A: 'a\u0000b' }, 'env.A', 'NUL'],
    ['env', { A: 'a\ud800' }, 'env.A', 'unpaired surrogate'],
    ['env', Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`V${i}`, 'x'])), 'env', 'at most 100 environment variables'],
    ['env', Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`V${i}`, 'x'.repeat(4000)])), 'env', 'at most 65536 bytes'],
    ['tags', { a: 'v'.repeat(257) }, 'tags.a', 'tag values are at most 256 characters'],
    ['tags', { a: 'semi;colon' }, 'tags.a', 'tag values must use only'],
    ['tags', Object.fromEntries(Array.from({ length: 47 }, (_, i) => [`t${i}`, 'x'])), 'tags', 'at most 46 tags'],
  ])('bounds %s values and sizes (%#)', (field, map, path, expected) => {
    expect(problems({ [field]: map })).toEqual([expect.objectContaining({ path, message: expect.stringContaining(expected) })]);
  });
});

describe('Function: satisfies (scheduler resources)', () => {
  it('does not treat a resource named like an Object.prototype member as offered', () => {
    for (const name of PROTOTYPE_NAMES) {
      expect(satisfies({ GPU: 1 }, { [name]: 1 }), name).toBe(false);
      expect(satisfies({ [name]: 2 }, { [name]: 1 }, {}), name).toBe(true);
      expect(satisfies({ [name]: 2 }, { [name]: 1 }, { [name]: 2 }), name).toBe(false);
    }
  });
});

describe('Function: renderCluster (resources)', () => {
  it('maps only known extended resources to Kubernetes names, whatever the user called theirs', () => {
    const def = renderCluster({
      clusterId: 'c-abc123',
      owner: 'arathe',
      namespace: 'recc-arathe-abc123',
      spec: { ...specFixture(), resources: { constructor: 1, toString: 2, GPU: 1 } },
      plan: planFixture(),
    });
    expect(def.workers.resources.extended).toEqual({ 'nvidia.com/gpu': 1 });
  });
});

describe('Function: budgetFor (user-keyed budgets)', () => {
  it('gives a user named like an Object.prototype member the default budget', () => {
    for (const user of PROTOTYPE_NAMES) {
      expect(budgetFor('user', user, { userBudgetUsd: 100, userBudgets: { alice: 5 }, namespaceBudgetUsd: 50 }), user).toBe(100);
    }
  });
});
