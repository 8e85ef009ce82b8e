/**
 * Minimal Kubernetes object shapes the pure builders produce. They are plain
 * JSON (camelCase field names exactly as the Kubernetes API and
 * `@kubernetes/client-node` expect), so the builders import no client library
 * and `recc render` can print them as YAML.
 */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** Kinds the EKS backend manages, in apply order (teardown runs in reverse). */
export const APPLY_ORDER = [
  'Namespace',
  'ServiceAccount',
  'Role',
  'RoleBinding',
  'NetworkPolicy',
  'ResourceQuota',
  'LimitRange',
  'Secret',
  'ConfigMap',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'Service',
  'PodDisruptionBudget',
  'Deployment',
  'Ingress',
] as const;

export type ManagedKind = (typeof APPLY_ORDER)[number];

/** Kinds outside a cluster namespace: the warm capacity's pre-pull DaemonSets (manifests/prepull.ts). */
export type AppliedKind = ManagedKind | 'DaemonSet';
