import { createHash } from 'node:crypto';

/**
 * Names, label keys and annotation keys shared by the EKS builders, the
 * applier, node capacity and observe. Pure.
 */

/** Label keys (the definition's own labels add recc.io/cluster, recc.io/owner, recc.io/job). */
export const EKS_LABELS = {
  cluster: 'recc.io/cluster',
  owner: 'recc.io/owner',
  job: 'recc.io/job',
  component: 'recc.io/component',
  managedBy: 'recc.io/managed-by',
  /** `active` or `deleting`; deleting namespaces no longer count towards node capacity. */
  state: 'recc.io/state',
  /** On nodes (from the instance's tag) and in pod nodeSelectors. */
  nodeGroup: 'recc.io/nodegroup',
  /** On a scheduled-job run's driver Job and its pod. */
  run: 'recc.io/run',
} as const;

/**
 * What a scheduled-job driver pod asks for (manifests/driver-job.ts). The
 * cluster of a job run (`definition.job` set) has room for it in its quota.
 */
export const DRIVER_RESOURCES = { cpu: '250m', memory: '512Mi', milliCpu: 250, mib: 512 } as const;

export const MANAGED_BY = 'recc';

/** Namespace annotations: what node capacity and identity mapping read back (self-contained backend). */
export const EKS_ANNOTATIONS = {
  owner: 'recc.io/owner',
  clusterId: 'recc.io/cluster-id',
  job: 'recc.io/job',
  instanceType: 'recc.io/instance-type',
  nodeGroup: 'recc.io/node-group',
  /** Nodes this cluster needs in its node group (from the plan, updated on scale). */
  nodes: 'recc.io/nodes',
  /** ISO time of the first apply; ASG failures older than this are not this cluster's. */
  appliedAt: 'recc.io/applied-at',
  /** sha256 of the desired object; an unchanged object is not replaced (idempotent apply). */
  specHash: 'recc.io/spec-hash',
  /** `edit` once the owner was granted `recc cluster kubeconfig --edit` here (identity mapping adds the edit group). */
  kubectlAccess: 'recc.io/kubectl-access',
  /** On a Node: ISO time our scale-in cordoned it (only our own cordons are lifted; stale ones by the next reconcile). */
  scaleInCordonedAt: 'recc.io/scale-in-cordoned-at',
} as const;

/** Object names inside a cluster namespace. */
export const OBJECT_NAMES = {
  serviceAccount: 'recc-cluster',
  role: 'recc-user',
  roleBinding: 'recc-user',
  /** `--edit`: pods/exec and deleting pods, granted on request (adapters/eks/edit-access.ts). */
  editRole: 'recc-user-edit',
  editRoleBinding: 'recc-user-edit',
  denyAll: 'recc-default-deny-ingress',
  /** Egress: DNS, the namespace's own pods, HTTPS to AWS endpoints, Pod Identity, configured CIDRs; never the instance metadata service. */
  egress: 'recc-egress',
  sameNamespace: 'recc-allow-same-namespace',
  desktops: 'recc-allow-desktops-to-scheduler',
  /** The API server's service proxy (scheduler status for observe and the harvester). */
  controlPlane: 'recc-allow-control-plane-to-dashboard',
  quota: 'recc-quota',
  limits: 'recc-limits',
  secret: 'recc-cluster-tls',
  definition: 'recc-definition',
  schedulerDeployment: 'recc-scheduler',
  workerDeployment: 'recc-worker',
  schedulerDisruptionBudget: 'recc-scheduler',
  ingress: 'recc-dashboard',
  /** The claim on the cluster's source PersistentVolume (`sourceGitBranch`, manifests/build.ts `buildSourceVolume`). */
  sourceClaim: 'recc-source',
} as const;

/**
 * The cluster's source PersistentVolume. PVs are cluster-scoped, so the name
 * must be unique per cluster: the namespace is (one per cluster, a DNS label,
 * so the name is a valid DNS subdomain).
 */
export function sourceVolumeName(namespace: string): string {
  return `recc-src-${namespace}`;
}

/** A DNS-label-safe fragment: lowercase alphanumerics and `-`. */
export function dnsFragment(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
}

const OWNER_FRAGMENT_MAX = 48;
const HASH_CHARS = 10;
const HASHED_TAIL = new RegExp(`-[0-9a-f]{${HASH_CHARS}}$`);

/**
 * The owner as it appears in node group, Kubernetes group and IAM role names.
 * It must be injective: two owners with one name would share nodes and
 * Kubernetes access. `dnsFragment` alone is not (`Alice`/`alice`,
 * `a.lice`/`a-lice`, `jdoe@corp.example`/`jdoe-corp-example` collapse), so
 * any owner that is not already a clean fragment gets a stable hash of its
 * exact text appended. A clean owner that merely looks hashed (ends in
 * `-` and 10 hex digits) is hashed too, so no owner can name itself after
 * another's fragment. At most 48 characters: `recc-user-{owner}` stays
 * within IAM's 64-character role names.
 */
export function ownerFragment(owner: string): string {
  const clean = dnsFragment(owner);
  if (clean === owner && clean.length > 0 && clean.length <= OWNER_FRAGMENT_MAX && !HASHED_TAIL.test(clean)) return clean;
  const hash = createHash('sha256').update(owner, 'utf8').digest('hex').slice(0, HASH_CHARS);
  const head = clean.slice(0, OWNER_FRAGMENT_MAX - HASH_CHARS - 1).replace(/-+$/, '');
  return head ? `${head}-${hash}` : `u-${hash}`;
}

/**
 * One auto scaling group per (user, instance type), as in the reference
 * design: `arathe` + `c5.xlarge` → `arathe-c5-xlarge-nodegroup`.
 */
export function nodeGroupName(owner: string, instanceType: string, prefix = ''): string {
  const name = `${prefix}${ownerFragment(owner)}-${dnsFragment(instanceType.replace(/\./g, '-'))}-nodegroup`;
  return name.slice(0, 255);
}

/** The Kubernetes group a user's IAM role is mapped to (access entry `kubernetesGroups`). */
export function userKubernetesGroup(owner: string, prefix = 'recc:user:'): string {
  return `${prefix}${ownerFragment(owner)}`;
}

/**
 * The Kubernetes group that carries `--edit` (pods/exec, delete pods). It is
 * on the user's access entry only while one of their live namespaces was
 * granted edit, and only that namespace's RoleBinding names it. The owner
 * fragment has no `:`, so `{prefix}edit:{owner}` never equals another
 * owner's `{prefix}{owner}`.
 */
export function userEditKubernetesGroup(owner: string, prefix = 'recc:user:'): string {
  return `${prefix}edit:${ownerFragment(owner)}`;
}

/** Resolve `{owner}` in an IAM role ARN template. */
export function userRoleArn(template: string, owner: string): string {
  return template.replace(/\{owner\}/g, ownerFragment(owner));
}

/** Kubernetes quantity for CPU: millicores. */
export function cpuQuantity(cpu: number): string {
  return `${Math.round(cpu * 1000)}m`;
}

/** Kubernetes quantity for memory: MiB. */
export function memoryQuantity(gib: number): string {
  return `${Math.round(gib * 1024)}Mi`;
}

/** Parse a Kubernetes CPU quantity (`500m`, `2`, `1.5`) to cores. */
export function parseCpu(quantity: string | number | undefined): number {
  if (quantity === undefined) return 0;
  const s = String(quantity).trim();
  if (s.endsWith('m')) return Number(s.slice(0, -1)) / 1000;
  return Number(s);
}

const MEMORY_UNITS: Record<string, number> = {
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
};

/** Parse a Kubernetes memory quantity (`1536Mi`, `2Gi`, `1e9`, `500M`) to bytes. */
export function parseMemory(quantity: string | number | undefined): number {
  if (quantity === undefined) return 0;
  const m = /^([0-9.e+]+)([KMGT]i|[kMGT])?$/.exec(String(quantity).trim());
  if (!m) return Number.NaN;
  return Number(m[1]) * (m[2] ? (MEMORY_UNITS[m[2]] ?? Number.NaN) : 1);
}
