import { describe, expect, it } from 'vitest';
import { localProcessFor, podEnv } from '../../../adapters/local-backend/rewrite.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import { planFixture, specFixture } from '../../support/local-stack-fixtures.ts';

const definition = renderCluster({
  clusterId: 'c-abc123',
  owner: 'arathe',
  namespace: 'recc-arathe-abc123',
  spec: specFixture({ resources: { GPU: 1 }, env: { DATA_ROOT: '/data', WHO: '$(POD_NAME)' } }),
  plan: planFixture(),
});
const ctx = {
  podName: 'c-abc123-worker-3',
  namespace: 'recc-arathe-abc123',
  schedulerPort: 41000,
  dashboardPort: 41001,
  secretsDir: '/state/clusters/c-abc123/secrets',
  reccCommand: ['/usr/bin/node', '/repo/bin/recc.mjs'],
};

describe('Function: localProcessFor', () => {
  it('runs the scheduler on loopback with local ports and the local secrets dir', () => {
    // Act
    const proc = localProcessFor(definition, definition.scheduler, { ...ctx, podName: 'c-abc123-scheduler' });

    // Assess
    expect(proc.command).toBe('/usr/bin/node');
    expect(proc.args).toEqual([
      '/repo/bin/recc.mjs', 'scheduler', '--port', '41000', '--host', '127.0.0.1',
      '--token-file', '/state/clusters/c-abc123/secrets/token',
      '--tls-cert', '/state/clusters/c-abc123/secrets/tls.crt',
      '--tls-key', '/state/clusters/c-abc123/secrets/tls.key',
      '--dashboard-port', '41001',
    ]);
  });

  it('points the worker at the local scheduler, expands its pod name and keeps every other flag', () => {
    // Act
    const proc = localProcessFor(definition, definition.workers, ctx);

    // Assess
    expect(proc.args).toEqual([
      '/repo/bin/recc.mjs', 'worker', 'tls://127.0.0.1:41000',
      '--token-file', '/state/clusters/c-abc123/secrets/token',
      '--tls-ca', '/state/clusters/c-abc123/secrets/ca.pem',
      '--nthreads', '1', '--memory-limit', '1.5', '--resource', 'GPU=1',
      '--name', 'c-abc123-worker-3',
    ]);
    expect(proc.env).toMatchObject({
      DATA_ROOT: '/data',
      RECC_CLUSTER_ID: 'c-abc123',
      RECC_COMPONENT: 'worker',
      POD_NAME: 'c-abc123-worker-3',
      POD_NAMESPACE: 'recc-arathe-abc123',
    });
  });

  it('runs a command other than recc as it is', () => {
    // Prepare
    const custom = { ...definition.workers, command: ['python3', '-m', 'research.worker'], args: ['--x', '1'] };

    // Act
    const proc = localProcessFor(definition, custom, ctx);

    // Assess
    expect(proc.command).toBe('python3');
    expect(proc.args).toEqual(['-m', 'research.worker', '--x', '1']);
  });
});

describe('Function: podEnv', () => {
  it('fills field references and expands earlier variables like the kubelet', () => {
    expect(
      podEnv(
        [
          { name: 'POD_NAME', fieldRef: 'metadata.name' },
          { name: 'POD_IP', fieldRef: 'status.podIP' },
          { name: 'LABEL', value: 'pod=$(POD_NAME)' },
          { name: 'LATER', value: '$(UNDEFINED)' },
        ],
        { podName: 'p-1', namespace: 'ns' },
      ),
    ).toEqual({ POD_NAME: 'p-1', POD_IP: '127.0.0.1', LABEL: 'pod=p-1', LATER: '$(UNDEFINED)' });
  });
});
