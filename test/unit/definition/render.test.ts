import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { expandArg, renderCluster, schedulerServiceHost, toLabelValue } from '../../../shared/definition/render.ts';
import { DefinitionValidationError } from '../../../shared/definition/errors.ts';
import { LOCAL_IMAGE } from '../../../shared/spec/image.ts';
import { planFixture, specFixture } from '../../support/local-stack-fixtures.ts';

const base = {
  clusterId: 'c-abc123',
  owner: 'arathe',
  namespace: 'recc-arathe-abc123',
  spec: specFixture(),
  plan: planFixture(),
};

function argAfter(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

describe('Function: renderCluster', () => {
  it('renders the scheduler command with TLS files under the mount path and the default ports', () => {
    // Act
    const def = renderCluster(base);

    // Assess
    expect(def.scheduler.command).toEqual(['recc']);
    expect(def.scheduler.args).toEqual([
      'scheduler', '--port', '8786', '--host', '0.0.0.0',
      '--token-file', '/etc/recc/secrets/token',
      '--tls-cert', '/etc/recc/secrets/tls.crt',
      '--tls-key', '/etc/recc/secrets/tls.key',
      '--dashboard-port', '8787',
    ]);
    expect(def.scheduler.replicas).toBe(1);
    expect(def.scheduler.resources).toEqual({ cpu: 1, memoryGiB: 2, extended: {} });
    expect(def.schedulerService).toEqual({
      name: 'recc-scheduler',
      component: 'scheduler',
      ports: [{ name: 'comm', port: 8786 }, { name: 'dashboard', port: 8787 }],
    });
  });

  it('renders the worker command against the in-cluster service with threads, memory, resources and pod name', () => {
    // Prepare
    const spec = specFixture({ workerCpu: 1.5, workerMemoryGiB: 3.25, resources: { GPU: 1, licence: 2 } });

    // Act
    const def = renderCluster({ ...base, spec, desiredWorkers: 5 });

    // Assess
    expect(def.workers.args).toEqual([
      'worker', 'tls://recc-scheduler.recc-arathe-abc123.svc:8786',
      '--token-file', '/etc/recc/secrets/token',
      '--tls-ca', '/etc/recc/secrets/ca.pem',
      '--nthreads', '2',
      '--memory-limit', '3.25',
      '--resource', 'GPU=1', '--resource', 'licence=2',
      '--name', '$(POD_NAME)',
    ]);
    expect(def.workers.replicas).toBe(5);
    expect(def.workers.resources).toEqual({ cpu: 1.5, memoryGiB: 3.25, extended: { 'nvidia.com/gpu': 1 } });
    expect(def.workers.env).toContainEqual({ name: 'POD_NAME', fieldRef: 'metadata.name' });
  });

  it("keeps the spec's own image over the deployment's default; with neither, the local placeholder; an empty one is refused", () => {
    // Act
    const def = renderCluster(base, { defaultImage: 'reg/recc@sha256:' + 'a'.repeat(64) });
    const { image: _image, ...noImage } = base.spec;
    const err = (() => {
      try {
        renderCluster({ ...base, spec: noImage }, { defaultImage: ' ' });
      } catch (e) {
        return e;
      }
    })();

    // Assess
    expect(def.scheduler.image).toBe('recc:test');
    expect(def.workers.image).toBe('recc:test');
    expect(err).toBeInstanceOf(DefinitionValidationError);
    expect((err as DefinitionValidationError).details).toEqual([{ path: 'spec.image', message: 'is required (the spec names no image and the deployment configures an empty one)' }]);
    expect(renderCluster({ ...base, spec: noImage }).workers.image).toBe(LOCAL_IMAGE);
  });

  it('uses the options for the default image, ports and mount path when given', () => {
    // Act
    const { image: _image, ...noImage } = base.spec;
    const def = renderCluster({ ...base, spec: noImage }, { defaultImage: 'reg/recc:1', schedulerPort: 9000, dashboardPort: 9001, secretMountPath: '/s/' });

    // Assess
    expect(def.scheduler.image).toBe('reg/recc:1');
    expect(def.workers.image).toBe('reg/recc:1');
    expect(argAfter(def.scheduler.args, '--port')).toBe('9000');
    expect(argAfter(def.scheduler.args, '--dashboard-port')).toBe('9001');
    expect(argAfter(def.workers.args, '--tls-ca')).toBe('/s/ca.pem');
    expect(def.workers.args[1]).toBe('tls://recc-scheduler.recc-arathe-abc123.svc:9000');
    expect(def.secretMountPath).toBe('/s');
  });

  it('labels with cluster, owner, job and spec tags and tags costs with user, namespace, job and cluster', () => {
    // Prepare
    const spec = specFixture({ tags: { project: 'alpha', 'bad key!': 'x', team: 'quant research' } });

    // Act
    const def = renderCluster({ ...base, spec, job: 'nightly-backfill' });

    // Assess
    expect(def.labels).toEqual({
      project: 'alpha',
      team: 'quant-research',
      'recc.io/cluster': 'c-abc123',
      'recc.io/owner': 'arathe',
      'recc.io/job': 'nightly-backfill',
    });
    expect(def.tags).toMatchObject({ user: 'arathe', namespace: 'recc-arathe-abc123', job: 'nightly-backfill', cluster: 'c-abc123', project: 'alpha' });
    expect(def.job).toBe('nightly-backfill');
  });

  it('puts the spec env before the system env and never lets it override a system variable', () => {
    // Prepare
    const spec = specFixture({ env: { B: '2', A: '1', POD_NAME: 'spoof' } });

    // Act
    const def = renderCluster({ ...base, spec });

    // Assess
    expect(def.workers.env.map((e) => e.name)).toEqual(['A', 'B', 'RECC_CLUSTER_ID', 'RECC_COMPONENT', 'POD_NAME', 'POD_NAMESPACE']);
    expect(def.workers.env.find((e) => e.name === 'POD_NAME')).toEqual({ name: 'POD_NAME', fieldRef: 'metadata.name' });
  });

  it('throws a DefinitionValidationError listing every problem when the input is invalid', () => {
    // Act
    const act = () =>
      renderCluster({ ...base, clusterId: 'Bad_ID', namespace: '', desiredWorkers: -1 }, { schedulerPort: 70000 });

    // Assess
    expect(act).toThrow(DefinitionValidationError);
    try {
      act();
    } catch (err) {
      expect((err as DefinitionValidationError).details.map((d) => d.path)).toEqual([
        'clusterId', 'namespace', 'desiredWorkers', 'options.schedulerPort',
      ]);
    }
  });

  it('is pure: the same input renders the same definition', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.double({ min: 0.25, max: 16, noNaN: true }), (workers, cpu) => {
        const input = { ...base, spec: specFixture({ workerCpu: cpu }), desiredWorkers: workers };
        const a = renderCluster(input);
        expect(renderCluster(input)).toEqual(a);
        expect(Number(argAfter(a.workers.args, '--nthreads'))).toBe(Math.max(1, Math.ceil(cpu)));
        expect(a.workers.replicas).toBe(workers);
      }),
    );
  });
});

describe('Function: expandArg', () => {
  it('expands $(VAR) from the env, keeps unknown names and unescapes $$(', () => {
    expect(expandArg('--name=$(POD_NAME)', { POD_NAME: 'w-1' })).toBe('--name=w-1');
    expect(expandArg('$(MISSING)', {})).toBe('$(MISSING)');
    expect(expandArg('$$(POD_NAME)', { POD_NAME: 'w-1' })).toBe('$(POD_NAME)');
  });
});

describe('Function: toLabelValue', () => {
  it('always returns a valid label value', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (s) => {
        expect(toLabelValue(s)).toMatch(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/);
        expect(toLabelValue(s).length).toBeLessThanOrEqual(63);
      }),
    );
  });

  it('names the in-cluster scheduler service by namespace', () => {
    expect(schedulerServiceHost('ns1')).toBe('recc-scheduler.ns1.svc');
  });
});
