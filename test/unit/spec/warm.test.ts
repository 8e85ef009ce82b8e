import { describe, expect, it } from 'vitest';
import { parseTemplateDocument } from '../../../shared/spec/templates.ts';
import { MAX_WARM_NODES, parseWarm, warmTargets } from '../../../shared/spec/warm.ts';

const IMAGE = 'registry.example/recc@sha256:' + 'ab'.repeat(32);

describe('Function: parseWarm', () => {
  it('takes nodes and users, pre-pull on by default', () => {
    expect(parseWarm({ nodes: 2, users: ['arathe', 'b.lee@corp'] })).toEqual({ warm: { nodes: 2, users: ['arathe', 'b.lee@corp'], prePull: true }, problems: [] });
    expect(parseWarm({ nodes: 0, users: ['arathe'], prePull: false }).warm).toEqual({ nodes: 0, users: ['arathe'], prePull: false });
  });

  it('names the path of every problem', () => {
    const { warm, problems } = parseWarm({ nodes: 2.5, users: ['ok', '', 'ok'], prePull: 'yes', minimum: 1 });
    expect(warm).toBeUndefined();
    expect(problems).toEqual([
      { path: 'warm.minimum', message: 'unknown field; a warm pool has nodes, users, prePull' },
      { path: 'warm.nodes', message: `must be a whole number from 0 to ${MAX_WARM_NODES} (got 2.5)` },
      { path: 'warm.users.1', message: 'must be a user name (letters, digits, . _ @ + -; at most 64) (got "")' },
      { path: 'warm.users.2', message: '"ok" is listed twice' },
      { path: 'warm.prePull', message: 'must be true or false (got "yes")' },
    ]);
    expect(parseWarm({ nodes: MAX_WARM_NODES + 1, users: [] }).problems.map((p) => p.path)).toEqual(['warm.nodes', 'warm.users']);
    expect(parseWarm([1]).problems).toEqual([{ path: 'warm', message: 'must be a mapping with nodes, users and prePull (got a list)' }]);
  });
});

describe('Function: parseTemplateDocument (warm block)', () => {
  it('reads the warm block beside the spec, and names its problems with the file', () => {
    const ok = parseTemplateDocument({ description: 'd', spec: { instanceType: 'c5.xlarge' }, warm: { nodes: 1, users: ['arathe'] } }, 'templates/small.yaml');
    expect(ok).toMatchObject({ warm: { nodes: 1, users: ['arathe'], prePull: true }, problems: [] });
    const bad = parseTemplateDocument({ spec: {}, warm: { nodes: -1, users: ['arathe'] } }, 'templates/small.yaml');
    expect(bad.warm).toBeUndefined();
    expect(bad.problems).toEqual([{ path: 'warm.nodes', message: `must be a whole number from 0 to ${MAX_WARM_NODES} (got -1) (in templates/small.yaml)` }]);
  });
});

describe('Function: warmTargets', () => {
  it('gives one target per (user, instance type): the largest count, every pre-pulled image, nothing for 0 nodes', () => {
    const targets = warmTargets(
      [
        { name: 'small', description: '', spec: { instanceType: 'c5.xlarge' }, warm: { nodes: 1, users: ['arathe', 'blee'], prePull: true } },
        { name: 'model', description: '', spec: { instanceType: 'c5.xlarge', image: 'ghcr.io/lab/model:1.4' }, warm: { nodes: 3, users: ['arathe'], prePull: true } },
        { name: 'memory', description: '', spec: { instanceType: 'r5.2xlarge' }, warm: { nodes: 2, users: ['arathe'], prePull: false } },
        { name: 'off', description: '', spec: { instanceType: 'm5.large' }, warm: { nodes: 0, users: ['arathe'], prePull: true } },
        { name: 'default', description: '', spec: {} },
      ],
      IMAGE,
    );
    expect(targets).toEqual([
      { owner: 'arathe', instanceType: 'c5.xlarge', nodes: 3, images: ['ghcr.io/lab/model:1.4', IMAGE].sort(), templates: ['model', 'small'] },
      { owner: 'arathe', instanceType: 'r5.2xlarge', nodes: 2, images: [], templates: ['memory'] },
      { owner: 'blee', instanceType: 'c5.xlarge', nodes: 1, images: [IMAGE], templates: ['small'] },
    ]);
  });
});
