import { describe, expect, it } from 'vitest';
import { manifestOptions } from '../../../adapters/eks/config.ts';
import { buildClusterManifests } from '../../../adapters/eks/manifests/build.ts';
import { TEST_EKS_CONFIG, testDefinition } from '../../support/eks-stack.ts';

/**
 * Issue 21 on EKS: with the stage's log group configured (RECC_EKS_LOG_GROUP),
 * every scheduler and worker container gets RECC_LOG_GROUP and the log context
 * (cluster, owner, namespace, job; pod name from the downward API), which is
 * what `recc scheduler`/`recc worker` need to ship their lines; without it,
 * nothing is added.
 */
describe('EKS manifests: log shipping environment', () => {
  const envOf = (objects: ReturnType<typeof buildClusterManifests>, name: string) =>
    ((objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name) as any).spec.template.spec.containers[0].env as Array<{ name: string; value?: string; valueFrom?: unknown }>);

  it('gives scheduler and worker containers the log group and their context', () => {
    // Prepare
    const def = testDefinition({ clusterId: 'c-logenv', owner: 'alice', job: 'nightly-prices' });

    // Act
    const objects = buildClusterManifests(def, { ...manifestOptions({ ...TEST_EKS_CONFIG, logGroup: '/recc/prod/clusters' }), nodes: 1 }, { kind: 'references' });
    const plain = buildClusterManifests(def, { ...manifestOptions(TEST_EKS_CONFIG), nodes: 1 }, { kind: 'references' });

    // Assess
    for (const name of ['recc-scheduler', 'recc-worker']) {
      expect(envOf(objects, name)).toEqual(
        expect.arrayContaining([
          { name: 'RECC_LOG_GROUP', value: '/recc/prod/clusters' },
          { name: 'AWS_REGION', value: 'us-east-1' },
          { name: 'RECC_CLUSTER_ID', value: 'c-logenv' },
          { name: 'RECC_OWNER', value: 'alice' },
          { name: 'RECC_NAMESPACE', value: def.namespace },
          { name: 'RECC_JOB', value: 'nightly-prices' },
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        ]),
      );
      expect(envOf(plain, name).map((e) => e.name)).not.toContain('RECC_LOG_GROUP');
    }
  });
});
