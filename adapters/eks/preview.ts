import { getOptionalString, type Env } from '../../shared/core/env.ts';
import { renderCluster } from '../../shared/definition/render.ts';
import type { ClusterDefinition } from '../../shared/definition/types.ts';
import { namespaceFor } from '../../shared/lifecycle/machine.ts';
import { planCluster } from '../../shared/plan/planner.ts';
import { resolveSpec } from '../../shared/spec/resolve.ts';
import { buildClusterManifests, type ManifestOptions, type ServiceMode } from './manifests/build.ts';
import type { K8sObject } from './manifests/types.ts';
import { EksManifestError } from './errors.ts';

/**
 * What `recc render` prints: the definition and the Kubernetes objects a
 * cluster would get, built by the same pure code the EKS backend applies,
 * with every secret value replaced by a reference
 * (`<secret:recc-cluster-tls/token>`). No secret is generated or read.
 */
export interface PreviewRequest {
  template?: string;
  overrides: Record<string, unknown>;
  owner: string;
  clusterId: string;
  namespace?: string;
  /** EKS settings; unset ones come from the RECC_EKS_* environment, then from preview defaults. */
  serviceMode?: string;
  allowedCidrs?: string[];
}

/** Shown when no CIDR is configured, so the output is complete and obviously a placeholder. */
export const PREVIEW_CIDR = '10.0.0.0/8';

export function previewManifestOptions(request: PreviewRequest, env: Env): ManifestOptions {
  const mode = request.serviceMode ?? getOptionalString(env, 'RECC_EKS_SERVICE_MODE') ?? 'nlb';
  if (mode !== 'nlb' && mode !== 'clusterip-ingress') {
    throw new EksManifestError([{ path: 'serviceMode', message: `must be "nlb" or "clusterip-ingress", got "${mode}"` }]);
  }
  const cidrs =
    request.allowedCidrs && request.allowedCidrs.length > 0
      ? request.allowedCidrs
      : (getOptionalString(env, 'RECC_EKS_ALLOWED_CIDRS') ?? PREVIEW_CIDR)
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  const ingressDomain = getOptionalString(env, 'RECC_EKS_INGRESS_DOMAIN') ?? (mode === 'clusterip-ingress' ? 'recc.example.internal' : undefined);
  const efs = getOptionalString(env, 'RECC_EKS_EFS_FILE_SYSTEM_ID') ?? 'fs-00000000000000000';
  return {
    allowedCidrs: cidrs,
    serviceMode: mode as ServiceMode,
    ...(ingressDomain ? { ingressDomain } : {}),
    efsFileSystemId: efs,
    efsRegion: getOptionalString(env, 'AWS_REGION') ?? 'us-east-1',
    efsRootPath: getOptionalString(env, 'RECC_EKS_EFS_ROOT_PATH') ?? '/branches',
    nodeGroupPrefix: getOptionalString(env, 'RECC_EKS_NODE_GROUP_PREFIX') ?? '',
  };
}

export function previewDefinition(request: PreviewRequest): ClusterDefinition {
  const spec = resolveSpec({ ...(request.template !== undefined ? { template: request.template } : {}), overrides: request.overrides });
  const plan = planCluster(spec);
  return renderCluster({
    clusterId: request.clusterId,
    owner: request.owner,
    namespace: request.namespace ?? namespaceFor(request.owner, request.clusterId),
    spec,
    plan,
  });
}

export function previewManifests(request: PreviewRequest, env: Env): { definition: ClusterDefinition; objects: K8sObject[] } {
  const definition = previewDefinition(request);
  const objects = buildClusterManifests(definition, { ...previewManifestOptions(request, env), nodes: definition.plan.instances }, { kind: 'references' });
  return { definition, objects };
}
