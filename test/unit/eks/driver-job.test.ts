import { TEST_EKS_IMAGE } from '../../support/eks-image.ts';
import { describe, expect, it } from 'vitest';
import { buildClusterManifests, SOURCE_MOUNT_PATH, type ManifestOptions } from '../../../adapters/eks/manifests/build.ts';
import { buildDriverJob, driverCommand, driverJobName } from '../../../adapters/eks/manifests/driver-job.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import type { ClusterDefinition } from '../../../shared/definition/types.ts';
import { planCluster } from '../../../shared/plan/planner.ts';
import { resolveSpec } from '../../../shared/spec/resolve.ts';

const OPTIONS: ManifestOptions = { allowedCidrs: ['10.20.0.0/16'], serviceMode: 'nlb', efsFileSystemId: 'fs-0123456789abcdef0', efsRegion: 'eu-west-1', logGroup: '/recc/test/clusters' };

function definition(overrides: Record<string, unknown> = {}, job?: string): ClusterDefinition {
  const spec = resolveSpec({ overrides: { nWorkers: 2, ...overrides } });
  return renderCluster({ clusterId: 'c-abc123', owner: 'arathe', namespace: 'recc-arathe-abc123', ...(job ? { job } : {}), spec, plan: planCluster(spec) }, { defaultImage: TEST_EKS_IMAGE });
}

const quotaOf = (def: ClusterDefinition) => (buildClusterManifests(def, OPTIONS, { kind: 'references' }).find((o) => o.kind === 'ResourceQuota') as any).spec.hard;

describe('Function: buildDriverJob', () => {
  it('a job run cluster has quota for its driver pod; an ad hoc cluster has none', () => {
    const adHoc = quotaOf(definition());
    const run = quotaOf(definition({}, 'nightly'));
    expect(Number(run.pods)).toBe(Number(adHoc.pods) + 1);
    expect(parseInt(run['requests.cpu'], 10)).toBe(parseInt(adHoc['requests.cpu'], 10) + 250);
    expect(parseInt(run['limits.memory'], 10)).toBe(parseInt(adHoc['limits.memory'], 10) + 512);
  });

  it('runs a module of the published branch from its mount, and an image command as given', () => {
    expect(driverCommand({ kind: 'module', module: 'jobs/backfill.ts', params: {} }, SOURCE_MOUNT_PATH)).toEqual(['node', '--import', 'tsx', `${SOURCE_MOUNT_PATH}/jobs/backfill.ts`]);
    expect(driverCommand({ kind: 'command', command: ['python3', '-m', 'backfill'], params: {} }, undefined)).toEqual(['python3', '-m', 'backfill']);
    const job = buildDriverJob(definition({ sourceGitBranch: 'research/prices' }, 'nightly'), OPTIONS, {
      runId: 'r-0abc-20261205t000000000z',
      jobName: 'nightly',
      entry: { kind: 'module', module: 'jobs/backfill.ts', export: 'main', params: { day: '2026-12-05' } },
      activeSeconds: 600,
    }) as any;
    const container = job.spec.template.spec.containers[0];
    expect(container.command).toEqual(['node', '--import', 'tsx', '/opt/recc/adapters/jobs/run-entry.ts', `${SOURCE_MOUNT_PATH}/jobs/backfill.ts`, 'main']);
    expect(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).toContain(SOURCE_MOUNT_PATH);
    // The script runs in its branch (relative paths resolve there); tsx and recc still resolve from the image above it.
    expect(container.workingDir).toBe(SOURCE_MOUNT_PATH);
    expect(SOURCE_MOUNT_PATH.startsWith('/opt/recc/')).toBe(true);
    const plain = buildDriverJob(definition({}, 'nightly'), OPTIONS, { runId: 'r-0abc-1', jobName: 'nightly', entry: { kind: 'command', command: ['python3', '-m', 'x'], params: {} }, activeSeconds: 60 }) as any;
    expect(plain.spec.template.spec.containers[0].workingDir).toBe('/opt/recc');
    const env = Object.fromEntries(container.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
    // Log shipping as the driver (docs/logs.md), never the scheduler's identity.
    expect(env).toMatchObject({ RECC_LOG_GROUP: '/recc/test/clusters', RECC_COMPONENT: 'driver', RECC_CLUSTER: 'id:c-abc123', RECC_JOB_PARAMS: '{"day":"2026-12-05"}' });
    expect(container.env.filter((e: { name: string }) => e.name === 'RECC_COMPONENT')).toHaveLength(1);
    expect(env.RECC_API_URL).toBeUndefined();
    expect(job.metadata.name).toBe(driverJobName('r-0abc-20261205t000000000z'));
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 720 });
    expect(container.resources.limits).toMatchObject({ cpu: '250m', memory: '512Mi' });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
  });

  it('gives the driver a proof of its own cluster for the API: the token file of the mounted cluster Secret, never the token', () => {
    const def = definition({}, 'nightly');
    const job = buildDriverJob(def, OPTIONS, { runId: 'r-0abc-1', jobName: 'nightly', entry: { kind: 'module', module: 'examples/backfill-job.ts', params: {} }, activeSeconds: 60, apiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com' }) as any;
    const container = job.spec.template.spec.containers[0];
    const env = Object.fromEntries(container.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
    expect(env).toMatchObject({ RECC_API_URL: 'https://abc123.execute-api.eu-west-1.amazonaws.com', RECC_API_SIGNING: 'sigv4', RECC_API_CLUSTER: 'c-abc123' });
    const tokenFile = env.RECC_API_CLUSTER_TOKEN_FILE as string;
    // The file is inside a read-only mount of the cluster's Secret volume.
    const mount = container.volumeMounts.find((m: { mountPath: string }) => tokenFile.startsWith(`${m.mountPath}/`));
    expect(mount).toBeDefined();
    expect(mount.readOnly).toBe(true);
    const volume = job.spec.template.spec.volumes.find((v: { name: string }) => v.name === mount.name);
    expect(volume.secret).toBeDefined();
    const secret = buildClusterManifests(def, OPTIONS, { kind: 'references' }).find((o) => o.kind === 'Secret') as any;
    expect(volume.secret.secretName).toBe(secret.metadata.name);
    expect(Object.keys(secret.stringData)).toContain(tokenFile.slice(mount.mountPath.length + 1));
    expect(JSON.stringify(container.env)).not.toMatch(/secret:/);
    for (const name of ['RECC_API_CLUSTER', 'RECC_API_CLUSTER_TOKEN_FILE', 'RECC_API_SIGNING']) expect(container.env.filter((e: { name: string }) => e.name === name)).toHaveLength(1);
  });

  it('keeps Job names DNS labels for the longest run ids', () => {
    const name = driverJobName(`r-${'z'.repeat(13)}-20261205t000000000z-a99`);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});
