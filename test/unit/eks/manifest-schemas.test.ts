import { TEST_EKS_IMAGE } from '../../support/eks-image.ts';
import { describe, expect, it } from 'vitest';
import { buildClusterManifests, type ManifestOptions } from '../../../adapters/eks/manifests/build.ts';
import { controlPlaneRbacObjects } from '../../../adapters/eks/manifests/control-plane-rbac.ts';
import { buildDriverJob } from '../../../adapters/eks/manifests/driver-job.ts';
import type { K8sObject } from '../../../adapters/eks/manifests/types.ts';
import { previewManifests } from '../../../adapters/eks/preview.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import type { ClusterDefinition } from '../../../shared/definition/types.ts';
import { planCluster } from '../../../shared/plan/planner.ts';
import { resolveSpec } from '../../../shared/spec/resolve.ts';
import { testSecrets } from '../../support/eks-stack.ts';
import { prePullDaemonSet, warmNamespace } from '../../../adapters/eks/manifests/prepull.ts';
import { K8sSchemaValidator, KINDS, generateBundle, vendoredBundle } from '../../support/k8s-schema.ts';

/**
 * Issue 17, "What it must show": every Kubernetes object recc renders
 * validates against the strict Kubernetes 1.30 JSON Schemas (vendored in
 * test/fixtures/kubernetes-schemas/, generated from kubernetes-types 1.30.0:
 * see test/support/k8s-schema.ts), 0 errors, over every template, both
 * service modes, with and without a git source branch, datastores, log
 * shipping, egress CIDRs and the control-plane policy; the driver Jobs of
 * scheduled runs; `recc render`'s preview; and the control-plane RBAC.
 */

const TEMPLATES = ['default', 'small', 'gpu-p3', 'memory-heavy-r5', 'large-cluster-large-workers'];

const DATASTORES = {
  stores: {
    LOCAL: { type: 'local', root: '/mnt/fast' },
    PRICES: { type: 's3', bucket: 'research-data', prefix: 'prices/', region: 'eu-west-1' },
    SCRATCH: { type: 's3', bucket: 'research-scratch', prefix: 'team-a' },
  },
  read: ['LOCAL', 'SCRATCH', 'PRICES'],
  write: 'SCRATCH',
};

const NLB: ManifestOptions = {
  allowedCidrs: ['10.20.0.0/16', '192.168.10.0/24'],
  serviceMode: 'nlb',
  controlPlaneCidrs: ['10.0.0.0/16'],
  efsFileSystemId: 'fs-0123456789abcdef0',
  efsRegion: 'eu-west-1',
};

const INGRESS: ManifestOptions = {
  allowedCidrs: ['203.0.113.0/24'],
  serviceMode: 'clusterip-ingress',
  ingressDomain: 'recc.example.internal',
  ingressClassName: 'alb',
  ingressSourceCidrs: ['10.1.0.0/20', '10.1.16.0/20'],
  efsFileSystemId: 'fs-0123456789abcdef0',
  efsRootPath: '/git/',
  sourceMountPath: '/work/src',
  logGroup: '/recc/prod/clusters',
  egressCidrs: ['10.40.0.0/16'],
  nodeGroupPrefix: 'prod-',
  kubernetesGroupPrefix: 'corp:recc:',
  datastoreRoleArnTemplate: 'arn:aws:iam::123456789012:role/recc-data-{owner}',
};

function definition(template: string, overrides: Record<string, unknown>, job?: string): ClusterDefinition {
  const spec = resolveSpec({ template, overrides });
  return renderCluster({ clusterId: 'c-abc123', owner: 'a.rathe@corp', namespace: 'recc-a-rathe-abc123', ...(job ? { job } : {}), spec, plan: planCluster(spec) }, { defaultImage: TEST_EKS_IMAGE });
}

/** Every object the EKS backend and the job driver would send for the matrix above. */
function renderedObjects(): K8sObject[] {
  const objects: K8sObject[] = [];
  const variants: Array<{ overrides: Record<string, unknown>; job?: string }> = [
    { overrides: {} },
    { overrides: { sourceGitBranch: 'research/prices-v2', datastores: DATASTORES }, job: 'nightly-backfill' },
  ];
  for (const template of TEMPLATES) {
    for (const { overrides, job } of variants) {
      const def = definition(template, overrides, job);
      for (const options of [NLB, INGRESS]) {
        const withNodes = { ...options, nodes: def.plan.instances, appliedAt: '2026-12-05T17:00:00.000Z' };
        objects.push(...buildClusterManifests(def, withNodes, { kind: 'values', secrets: testSecrets(def.clusterId) }));
        objects.push(...buildClusterManifests(def, withNodes, { kind: 'references' }));
        if (job) {
          objects.push(
            buildDriverJob(def, options, { runId: 'r-0abc-20261205t170000000z', jobName: job, entry: { kind: 'module', module: 'jobs/backfill.ts', export: 'main', params: { day: '2026-12-05', full: true } }, activeSeconds: 3600, apiUrl: 'https://api.example.internal' }),
            buildDriverJob(def, options, { runId: 'r-0abc-20261205t170000001z', jobName: job, entry: { kind: 'module', module: 'jobs/backfill.ts', params: {} }, activeSeconds: 60 }),
            buildDriverJob(def, options, { runId: 'r-0abc-20261205t170000002z', jobName: job, entry: { kind: 'command', command: ['python3', '-m', 'backfill'], params: { n: 3 } }, activeSeconds: 600 }),
          );
        }
      }
    }
  }
  objects.push(...previewManifests({ template: 'default', overrides: { nWorkers: 3 }, owner: 'arathe', clusterId: 'c-preview1' }, {}).objects);
  objects.push(...controlPlaneRbacObjects(), ...controlPlaneRbacObjects('corp:recc:control-plane'));
  // Warm capacity (issue 19 #5): the pre-pull namespace and DaemonSets, one and two images.
  objects.push(warmNamespace(), prePullDaemonSet('arathe-c5-xlarge-nodegroup', [TEST_EKS_IMAGE]), prePullDaemonSet('a-rathe-r5-2xlarge-nodegroup', [TEST_EKS_IMAGE, 'ghcr.io/lab/model:1.4'], 'example.ecr/pause:3.10'));
  return objects;
}

describe('Kubernetes 1.30 strict schemas', () => {
  it('the vendored schemas are exactly what kubernetes-types 1.30.0 declares for the kinds recc renders', () => {
    // Act
    const generated = generateBundle();
    const vendored = vendoredBundle();

    // Assess
    expect(vendored.source).toEqual({ package: 'kubernetes-types', version: '1.30.0' });
    expect(Object.keys(vendored.kinds).sort()).toEqual([...KINDS].sort());
    expect(vendored).toEqual(generated);
    // Strict: every object with declared properties refuses the others.
    const objects = Object.values(vendored.definitions).filter((d) => d.properties !== undefined);
    expect(objects.length).toBeGreaterThan(100);
    expect(objects.every((d) => d.additionalProperties === false)).toBe(true);
  });

  it('every object recc renders validates: 0 errors', () => {
    // Prepare
    const validator = new K8sSchemaValidator();
    const objects = renderedObjects();

    // Act
    const problems = validator.validate(objects);

    // Assess
    expect(problems).toEqual([]);
    const kinds = new Set(objects.map((o) => `${o.apiVersion}/${o.kind}`));
    expect([...kinds].sort()).toEqual([...KINDS].sort());
    expect(objects.length).toBeGreaterThan(700);
  });

  it('refuses a misspelt field at any depth, a missing required field, a wrong type and an unknown kind, naming each', () => {
    // Prepare
    const validator = new K8sSchemaValidator();
    const def = definition('default', { sourceGitBranch: 'main' });
    const objects = buildClusterManifests(def, { ...NLB, nodes: def.plan.instances }, { kind: 'references' });
    const deployment = structuredClone(objects.find((o) => o.kind === 'Deployment')) as any;
    const service = structuredClone(objects.find((o) => o.kind === 'Service')) as any;
    const policy = structuredClone(objects.find((o) => o.kind === 'NetworkPolicy')) as any;
    const namespace = structuredClone(objects.find((o) => o.kind === 'Namespace')) as any;
    expect(validator.validate([deployment, service, policy, namespace])).toEqual([]);

    // Act
    const container = deployment.spec.template.spec.containers[0];
    container.imagePullPolicyy = container.imagePullPolicy;
    container.securityContext.readOnlyRootFileSystem = true;
    delete container.name;
    deployment.spec.replicas = '3';
    service.spec.ports[0].targetPort = true;
    service.metadata.lables = { a: 'b' };
    policy.spec.podSelector.matchLabel = {};
    namespace.metadata.labels.count = 3;
    const problems = validator.validate([deployment, service, policy, namespace, { apiVersion: 'apps/v1', kind: 'Deploymnet', metadata: { name: 'x' } }, { apiVersion: 'v1', kind: 'ConfigMap', metadata: {} }]);

    // Assess
    expect(problems).toEqual([
      'Deployment recc-a-rathe-abc123/recc-scheduler /spec/replicas: must be number',
      "Deployment recc-a-rathe-abc123/recc-scheduler /spec/template/spec/containers/0: must have required property 'name'",
      'Deployment recc-a-rathe-abc123/recc-scheduler /spec/template/spec/containers/0: must NOT have additional properties "imagePullPolicyy"',
      'Deployment recc-a-rathe-abc123/recc-scheduler /spec/template/spec/containers/0/securityContext: must NOT have additional properties "readOnlyRootFileSystem"',
      'Service recc-a-rathe-abc123/recc-scheduler /metadata: must NOT have additional properties "lables"',
      'Service recc-a-rathe-abc123/recc-scheduler /spec/ports/0/targetPort: must be number,string',
      'NetworkPolicy recc-a-rathe-abc123/recc-default-deny-ingress /spec/podSelector: must NOT have additional properties "matchLabel"',
      'Namespace recc-a-rathe-abc123 /metadata/labels/count: must be string',
      'Deploymnet x: no vendored schema for apps/v1/Deploymnet; add it to KINDS in test/support/k8s-schema.ts and regenerate',
      "ConfigMap (no name) /metadata: must have required property 'name'",
    ]);
  });
});
