import { TEST_EKS_IMAGE } from '../../support/eks-image.ts';
import { describe, expect, it } from 'vitest';
import { loadDatastoresConfig } from '../../../adapters/datastores/load-config.ts';
import { eksConfigFromEnv, manifestOptions } from '../../../adapters/eks/config.ts';
import { buildClusterManifests } from '../../../adapters/eks/manifests/build.ts';
import { DATASTORE_POLICY_ANNOTATION, datastorePolicy } from '../../../adapters/eks/manifests/datastore-policy.ts';
import { DATASTORES_JSON_ENV } from '../../../shared/datastores/config.ts';
import { DatastoreConfigError } from '../../../shared/datastores/errors.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import { SpecValidationError } from '../../../shared/spec/errors.ts';
import { resolveSpec } from '../../../shared/spec/resolve.ts';
import type { ClusterSpec } from '../../../shared/spec/types.ts';
import { planFixture, specFixture } from '../../support/local-stack-fixtures.ts';

const DATASTORES = {
  stores: {
    FP_LOCAL: { type: 'local', root: '/mnt/fast' },
    S3: { type: 's3', bucket: 'research-data', prefix: 'prices/', region: 'eu-west-1' },
    FP_S3: { type: 's3', bucket: 'research-fast', prefix: 'team-a' },
  },
  read: ['FP_LOCAL', 'FP_S3', 'S3'],
  write: 'FP_S3',
  cache: { store: 'FP_LOCAL', maxBytes: 1_000_000 },
};

function problems(overrides: Record<string, unknown>) {
  try {
    resolveSpec({ overrides });
  } catch (err) {
    expect(err).toBeInstanceOf(SpecValidationError);
    return (err as SpecValidationError).details;
  }
  throw new Error('expected a SpecValidationError');
}

describe('cluster spec: datastores', () => {
  it('accepts named stores, a read order, a write target and a cache, filling defaults', () => {
    const spec = resolveSpec({ overrides: { datastores: DATASTORES } });
    // Kept as written (the workers' loader fills the defaults: region us-east-1, revalidate true).
    expect(spec.datastores).toEqual(DATASTORES);
    // Without the field nothing changes.
    expect(resolveSpec({ overrides: { nWorkers: 2 } }).datastores).toBeUndefined();
  });

  it('names every problem with its field path and what was expected', () => {
    const details = problems({
      datastores: {
        stores: {
          S3: { type: 's3', bucket: 'Bad_Bucket' },
          REL: { type: 'local', root: 'relative/dir' },
          X: { type: 'ftp', host: 'x' },
        },
        read: ['REL', 'GHOST'],
        write: 'NOWHERE',
        cache: { store: 'S3' },
        colour: 'blue',
      },
    });
    const byPath = Object.fromEntries(details.map((d) => [d.path, d.message]));
    expect(byPath['datastores.stores.S3.bucket']).toMatch(/expected an S3 bucket name/);
    expect(byPath['datastores.stores.X.type']).toMatch(/expected a store with type "local" \(root\) or "s3"/);
    expect(byPath['datastores.colour']).toBe('unknown field');
  });

  it('cross-checks names and local roots once the fields themselves are valid', () => {
    const details = problems({
      datastores: {
        stores: { S3: { type: 's3', bucket: 'research-data' }, REL: { type: 'local', root: 'relative/dir' } },
        read: ['REL', 'GHOST'],
        write: 'NOWHERE',
        cache: { store: 'S3' },
      },
    });
    expect(details).toEqual(
      expect.arrayContaining([
        { path: 'datastores.read.1', message: 'unknown store "GHOST"; expected one of LOCAL, REL, S3' },
        { path: 'datastores.write', message: 'unknown store "NOWHERE"; expected one of LOCAL, REL, S3' },
        { path: 'datastores.cache.store', message: 'store "S3" is s3; expected a local store for the cache' },
        { path: 'datastores.stores.REL.root', message: 'expected an absolute path (workers do not run in your working directory), got "relative/dir"' },
      ]),
    );
  });

  it('reaches the workers (not the scheduler) as RECC_DATASTORES_JSON, which the user env cannot shadow', () => {
    const spec = resolveSpec({ overrides: { datastores: DATASTORES, env: { [DATASTORES_JSON_ENV]: '{"read":["EVIL"]}', OTHER: '1' } } });
    const def = renderCluster({ clusterId: 'c1', owner: 'alice', namespace: 'recc-alice-c1', spec, plan: planFixture() }, { defaultImage: TEST_EKS_IMAGE });
    const workerEnv = def.workers.env.filter((e) => e.name === DATASTORES_JSON_ENV);
    expect(workerEnv).toEqual([{ name: DATASTORES_JSON_ENV, value: JSON.stringify(spec.datastores) }]);
    expect(def.scheduler.env.find((e) => e.name === DATASTORES_JSON_ENV)?.value).toBe('{"read":["EVIL"]}');
    // What the worker's loader makes of it: the spec's stores over the defaults, env READ still on top.
    const onWorker = loadDatastoresConfig({ cwd: '/srv', home: '/nonexistent', env: { [DATASTORES_JSON_ENV]: workerEnv[0]!.value } });
    expect(onWorker.read).toEqual(['FP_LOCAL', 'FP_S3', 'S3']);
    expect(onWorker.write).toBe('FP_S3');
    expect(onWorker.stores.LOCAL).toEqual({ type: 'local', root: '/srv/.recc/data' });
    expect(onWorker.sources).toEqual(['defaults', `cluster spec (${DATASTORES_JSON_ENV})`]);
    expect(() => loadDatastoresConfig({ cwd: '/srv', home: '/nonexistent', env: { [DATASTORES_JSON_ENV]: '{oops' } })).toThrow(DatastoreConfigError);
  });

  it('renders a least-privilege S3 policy on the ServiceAccount, and the IRSA role when configured', () => {
    const spec = resolveSpec({ overrides: { datastores: DATASTORES } });
    const def = renderCluster({ clusterId: 'c1', owner: 'alice', namespace: 'recc-alice-c1', spec, plan: planFixture() }, { defaultImage: TEST_EKS_IMAGE });
    const policy = datastorePolicy(spec.datastores);
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'ReadDatastores', Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::research-data/prices/*', 'arn:aws:s3:::research-fast/team-a/*'] },
        { Sid: 'WriteTarget', Effect: 'Allow', Action: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'], Resource: ['arn:aws:s3:::research-fast/team-a/*'] },
        { Sid: 'Listresearchdata', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: 'arn:aws:s3:::research-data', Condition: { StringLike: { 's3:prefix': ['prices/*'] } } },
        { Sid: 'Listresearchfast', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: 'arn:aws:s3:::research-fast', Condition: { StringLike: { 's3:prefix': ['team-a/*'] } } },
      ],
    });
    const options = { allowedCidrs: ['10.0.0.0/8'], serviceMode: 'nlb' as const, datastoreRoleArnTemplate: 'arn:aws:iam::123456789012:role/recc-data-{owner}' };
    const sa = buildClusterManifests(def, options, { kind: 'references' }).find((o) => o.kind === 'ServiceAccount');
    expect(JSON.parse(sa?.metadata.annotations?.[DATASTORE_POLICY_ANNOTATION] ?? '{}')).toEqual(policy);
    expect(sa?.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBe('arn:aws:iam::123456789012:role/recc-data-alice');
    // The worker container gets the settings as env.
    const workers = buildClusterManifests(def, options, { kind: 'references' }).find((o) => o.kind === 'Deployment' && o.metadata.name === 'recc-worker') as unknown as {
      spec: { template: { spec: { containers: Array<{ env: Array<{ name: string; value?: string }> }> } } };
    };
    expect(workers.spec.template.spec.containers[0]?.env.find((e) => e.name === DATASTORES_JSON_ENV)?.value).toBe(JSON.stringify(spec.datastores));
  });

  it('the EKS backend takes the role template from RECC_EKS_DATASTORE_ROLE_ARN_TEMPLATE, checked', () => {
    const base = {
      RECC_EKS_CLUSTER_NAME: 'research',
      RECC_EKS_IMAGE: '123456789012.dkr.ecr.us-east-1.amazonaws.com/recc@sha256:' + 'ab'.repeat(32),
      RECC_EKS_ALLOWED_CIDRS: '10.0.0.0/8',
      RECC_EKS_CONTROL_PLANE_CIDRS: '10.1.0.0/16',
      RECC_EKS_SUBNET_IDS: 'subnet-1',
      RECC_EKS_LAUNCH_TEMPLATE: 'lt',
      RECC_EKS_USER_ROLE_ARN_TEMPLATE: 'arn:aws:iam::123456789012:role/recc-user-{owner}',
    };
    const config = eksConfigFromEnv({ ...base, RECC_EKS_DATASTORE_ROLE_ARN_TEMPLATE: 'arn:aws:iam::123456789012:role/recc-data-{owner}' });
    expect(manifestOptions(config).datastoreRoleArnTemplate).toBe('arn:aws:iam::123456789012:role/recc-data-{owner}');
    expect(manifestOptions(eksConfigFromEnv(base)).datastoreRoleArnTemplate).toBeUndefined();
    let details: Array<{ path: string }> = [];
    try {
      eksConfigFromEnv({ ...base, RECC_EKS_DATASTORE_ROLE_ARN_TEMPLATE: 'recc-data' });
    } catch (err) {
      details = (err as { details: Array<{ path: string }> }).details;
    }
    expect(details.map((d) => d.path)).toEqual(['RECC_EKS_DATASTORE_ROLE_ARN_TEMPLATE']);
  });

  it('a cluster with no S3 store gets no policy and no role', () => {
    const spec: ClusterSpec = specFixture({ datastores: { stores: { FP: { type: 'local', root: '/mnt/x' } }, read: ['FP'] } });
    expect(datastorePolicy(spec.datastores)).toBeUndefined();
    const def = renderCluster({ clusterId: 'c2', owner: 'bob', namespace: 'recc-bob-c2', spec, plan: planFixture() }, { defaultImage: TEST_EKS_IMAGE });
    const sa = buildClusterManifests(def, { allowedCidrs: ['10.0.0.0/8'], serviceMode: 'nlb', datastoreRoleArnTemplate: 'arn:aws:iam::1:role/x-{owner}' }, { kind: 'references' }).find(
      (o) => o.kind === 'ServiceAccount',
    );
    expect(sa?.metadata.annotations).toBeUndefined();
  });
});
