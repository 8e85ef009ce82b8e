import { getOptionalString, type Env } from '../../shared/core/env.ts';
import { renderCluster } from '../../shared/definition/render.ts';
import type { ClusterDefinition } from '../../shared/definition/types.ts';
import { namespaceFor } from '../../shared/lifecycle/machine.ts';
import { planCluster } from '../../shared/plan/planner.ts';
import { resolveSpec } from '../../shared/spec/resolve.ts';
import { ConfigError } from '../../shared/core/errors.ts';
import { eksConfigFromEnv, manifestOptions, type EksBackendConfig } from './config.ts';
import { LOCAL_IMAGE } from '../../shared/spec/image.ts';
import { buildClusterManifests, type ManifestOptions } from './manifests/build.ts';
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

/** The image shown when RECC_EKS_IMAGE is unset: pinned by digest like the real one, and obviously a placeholder. */
export const PREVIEW_IMAGE = `registry.invalid/recc@sha256:${'0'.repeat(64)}`;

/**
 * Placeholders for settings the backend requires but a preview can do
 * without. Those that do not shape any object (cluster name, subnets, launch
 * template, user role) never appear in the output; the others are shown only
 * when nothing is configured, and are obviously placeholders.
 */
const PREVIEW_ENV: Readonly<Record<string, string>> = Object.freeze({
  RECC_EKS_CLUSTER_NAME: 'recc-preview',
  RECC_EKS_SUBNET_IDS: 'subnet-preview',
  RECC_EKS_LAUNCH_TEMPLATE: 'recc-preview-node',
  RECC_EKS_USER_ROLE_ARN_TEMPLATE: 'arn:aws:iam::000000000000:role/recc-user-{owner}',
  RECC_EKS_ALLOWED_CIDRS: PREVIEW_CIDR,
  RECC_EKS_CONTROL_PLANE_CIDRS: PREVIEW_CIDR,
  RECC_EKS_EFS_FILE_SYSTEM_ID: 'fs-00000000000000000',
  // Shown only when RECC_EKS_IMAGE is unset: a digest no registry serves.
  RECC_EKS_IMAGE: PREVIEW_IMAGE,
});

/**
 * The manifest options of a preview through the backend's own config path
 * (issue 17 #3): the same `eksConfigFromEnv` and `manifestOptions` the EKS
 * backend uses, over the environment (every `RECC_EKS_*` setting, including
 * RECC_EKS_INGRESS_SOURCE_CIDRS, the ingress class and the group prefix),
 * with the command's flags on top and placeholders only for what is unset.
 */
export function previewManifestOptions(request: PreviewRequest, env: Env): ManifestOptions {
  return manifestOptions(previewConfig(request, env));
}

/** The backend config of a preview (see previewManifestOptions): also the deployment's default image. */
function previewConfig(request: PreviewRequest, env: Env): EksBackendConfig {
  const merged: Env = { ...PREVIEW_ENV };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v.trim() !== '') merged[k] = v;
  if (request.serviceMode !== undefined) merged.RECC_EKS_SERVICE_MODE = request.serviceMode;
  if (request.allowedCidrs && request.allowedCidrs.length > 0) merged.RECC_EKS_ALLOWED_CIDRS = request.allowedCidrs.join(',');
  if (getOptionalString(merged, 'RECC_EKS_SERVICE_MODE') === 'clusterip-ingress' && getOptionalString(merged, 'RECC_EKS_INGRESS_DOMAIN') === undefined) {
    merged.RECC_EKS_INGRESS_DOMAIN = 'recc.example.internal';
  }
  try {
    return eksConfigFromEnv(merged);
  } catch (err) {
    if (err instanceof ConfigError) throw new EksManifestError(err.details, { cause: err });
    throw err;
  }
}

/** The definition of a preview; `defaultImage` is the deployment's (RECC_EKS_IMAGE on EKS), used when the spec names none. */
export function previewDefinition(request: PreviewRequest, defaultImage: string = LOCAL_IMAGE): ClusterDefinition {
  const spec = resolveSpec({ ...(request.template !== undefined ? { template: request.template } : {}), overrides: request.overrides });
  const plan = planCluster(spec);
  return renderCluster({
    clusterId: request.clusterId,
    owner: request.owner,
    namespace: request.namespace ?? namespaceFor(request.owner, request.clusterId),
    spec,
    plan,
  }, { defaultImage });
}

export function previewManifests(request: PreviewRequest, env: Env): { definition: ClusterDefinition; objects: K8sObject[] } {
  const config = previewConfig(request, env);
  const definition = previewDefinition(request, config.image);
  const objects = buildClusterManifests(definition, { ...manifestOptions(config), nodes: definition.plan.instances }, { kind: 'references' });
  return { definition, objects };
}
