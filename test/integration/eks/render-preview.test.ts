import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eksConfigFromEnv } from '../../../adapters/eks/config.ts';
import { previewManifests, type PreviewRequest } from '../../../adapters/eks/preview.ts';
import { APPLY_ORDER } from '../../../adapters/eks/manifests/types.ts';
import { startEksStack, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * Issue 17 #3: `recc render` shows exactly what the EKS backend applies. The
 * preview and the backend read the same RECC_EKS_* settings through one
 * config path (`eksConfigFromEnv` → `manifestOptions`) into one builder; this
 * applies the previewed definition with a backend configured from the same
 * environment on the fake API server, and diffs every object: the same set
 * of objects, and every previewed field stored unchanged (the server only
 * adds its own metadata, defaults and the applier's annotations). Secrets
 * differ only in their values (references in the preview).
 */
const ENV = {
  RECC_EKS_CLUSTER_NAME: 'recc-test',
  RECC_EKS_IMAGE: '123456789012.dkr.ecr.us-east-1.amazonaws.com/recc@sha256:' + 'ab'.repeat(32),
  RECC_EKS_ALLOWED_CIDRS: '10.20.0.0/16,192.168.10.0/24',
  RECC_EKS_CONTROL_PLANE_CIDRS: '10.0.0.0/16',
  RECC_EKS_SUBNET_IDS: 'subnet-aaa,subnet-bbb',
  RECC_EKS_LAUNCH_TEMPLATE: 'recc-eks-node',
  RECC_EKS_USER_ROLE_ARN_TEMPLATE: 'arn:aws:iam::123456789012:role/recc-user-{owner}',
  RECC_EKS_EFS_FILE_SYSTEM_ID: 'fs-0123456789abcdef0',
  RECC_EKS_K8S_GROUP_PREFIX: 'corp:recc:',
};

type Obj = { kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; [k: string]: unknown };

/** Paths where `applied` differs from `preview`, for every field `preview` sets (the server may add fields). */
function differences(preview: unknown, applied: unknown, path: string, out: string[]): void {
  if (preview !== null && typeof preview === 'object') {
    if (applied === null || typeof applied !== 'object' || Array.isArray(preview) !== Array.isArray(applied)) {
      out.push(`${path}: previewed ${JSON.stringify(preview)}, applied ${JSON.stringify(applied)}`);
      return;
    }
    if (Array.isArray(preview) && preview.length !== (applied as unknown[]).length) out.push(`${path}: previewed ${preview.length} items, applied ${(applied as unknown[]).length}`);
    for (const [k, v] of Object.entries(preview)) differences(v, (applied as Record<string, unknown>)[k], `${path}.${k}`, out);
    return;
  }
  if (preview !== applied) out.push(`${path}: previewed ${JSON.stringify(preview)}, applied ${JSON.stringify(applied)}`);
}

describe.each([
  { mode: 'clusterip-ingress', env: { RECC_EKS_SERVICE_MODE: 'clusterip-ingress', RECC_EKS_INGRESS_DOMAIN: 'recc.corp.example', RECC_EKS_INGRESS_CLASS: 'internal-alb', RECC_EKS_INGRESS_SOURCE_CIDRS: '198.51.100.0/24,203.0.113.7/32' } },
  { mode: 'nlb', env: { RECC_EKS_SERVICE_MODE: 'nlb' } },
])('recc render preview equals what the backend applies ($mode)', ({ env: modeEnv }) => {
  let stack: EksStack;
  const env = { ...ENV, ...modeEnv };
  const request: PreviewRequest = { template: 'small', overrides: { nWorkers: 3, sourceGitBranch: 'main' }, owner: 'alice', clusterId: 'c-preview1' };

  beforeAll(async () => {
    stack = await startEksStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('applies the same objects with the same fields', async () => {
    // Prepare
    const { definition, objects } = previewManifests(request, env);
    const backend = stack.makeBackend(eksConfigFromEnv(env));
    // Act
    await backend.apply(definition, testSecrets(definition.clusterId));
    // Assess: the same set of objects
    const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const applied = new Map<string, Obj>();
    for (const kind of APPLY_ORDER) {
      // Cluster-scoped kinds (the namespace, the source PersistentVolume): this cluster's by name.
      const clusterScoped = kind === 'Namespace' || kind === 'PersistentVolume';
      const found = (clusterScoped ? stack.fake.objects(kind) : stack.fake.objects(kind, definition.namespace)) as Obj[];
      const ours = (o: Obj) => !clusterScoped || o.metadata.name === definition.namespace || o.metadata.name === `recc-src-${definition.namespace}`;
      for (const o of found) if (ours(o)) applied.set(key(o), o);
    }
    // Objects Kubernetes makes by itself in every namespace are not the backend's.
    applied.delete(`ServiceAccount/${definition.namespace}/default`);
    applied.delete(`ConfigMap/${definition.namespace}/kube-root-ca.crt`);
    expect([...applied.keys()].sort()).toEqual((objects as Obj[]).map(key).sort());
    // and every previewed field as applied
    const problems: string[] = [];
    for (const o of objects as Obj[]) {
      const stored = applied.get(key(o))!;
      if (o.kind === 'Secret') {
        expect(Object.keys((stored.data ?? stored.stringData) as object).sort(), key(o)).toEqual(Object.keys((o.data ?? o.stringData) as object).sort());
        differences({ ...o, data: undefined, stringData: undefined }, { ...stored, data: undefined, stringData: undefined }, key(o), problems);
        continue;
      }
      differences(o, stored, key(o), problems);
    }
    expect(problems).toEqual([]);
  });

  it('shows the configured ingress source CIDRs, ingress class and group prefix', () => {
    const { objects } = previewManifests(request, env);
    const text = JSON.stringify(objects);
    expect(text).toContain('corp:recc:alice');
    if (modeEnv.RECC_EKS_INGRESS_SOURCE_CIDRS) {
      expect(text).toContain('198.51.100.0/24');
      expect(text).toContain('203.0.113.7/32');
      expect(text).toContain('internal-alb');
    }
  });
});
