import { SECRET_FILES, type ClusterDefinition, type ClusterSecrets, type EnvVar, type PodTemplate } from '../../../shared/definition/types.ts';
import { EksManifestError } from '../errors.ts';
import { LOCAL_IMAGE, imageReferenceProblem } from '../../../shared/spec/image.ts';
import {
  DRIVER_RESOURCES,
  EKS_ANNOTATIONS,
  EKS_LABELS,
  MANAGED_BY,
  OBJECT_NAMES,
  cpuQuantity,
  sourceVolumeName,
  memoryQuantity,
  nodeGroupName,
  userKubernetesGroup,
  userRoleArn,
} from './naming.ts';
import { DATASTORE_POLICY_ANNOTATION, datastorePolicy } from './datastore-policy.ts';
import type { K8sObject } from './types.ts';

/**
 * Pure builders: a rendered `ClusterDefinition` plus EKS configuration in,
 * plain Kubernetes objects out. No client library, no I/O, no clock (the
 * caller passes `appliedAt`). Unit-tested in `test/unit/eks/manifests.test.ts`.
 */
export type ServiceMode = 'nlb' | 'clusterip-ingress';

export interface ManifestOptions {
  /** CIDRs (on-prem desktop ranges) allowed to reach the scheduler and dashboard ports. */
  allowedCidrs: string[];
  /** `nlb`: internal NLB by annotation. `clusterip-ingress`: ClusterIP service plus an Ingress for the dashboard. */
  serviceMode: ServiceMode;
  /** Ingress class for `clusterip-ingress`. @default 'alb' */
  ingressClassName?: string;
  /** Dashboard host is `<clusterId>.<ingressDomain>` in `clusterip-ingress` mode. */
  ingressDomain?: string;
  /** Extra CIDRs that may reach the dashboard port (the ingress controller's / ALB's subnets). */
  ingressSourceCidrs?: string[];
  /**
   * Where the EKS control plane's network interfaces are (the cluster's subnets): the API server's
   * service proxy reaches the scheduler dashboard (status for observe and the harvester) from there,
   * so the deny-all policy must admit it on the dashboard port.
   */
  controlPlaneCidrs?: string[];
  /**
   * The stage's cluster log group: scheduler and worker pods ship their own lines there
   * (RECC_LOG_GROUP and the log context as env, docs/logs.md). Unset: no shipping.
   */
  logGroup?: string;
  /** Extra destinations pods may reach on any port (RECC_EKS_EGRESS_CIDRS), e.g. a database subnet. */
  egressCidrs?: string[];
  /** EFS holding git branches; `sourceGitBranch` is mounted read-only from `<efsRootPath>/<branch>`. */
  efsFileSystemId?: string;
  /** The deployment's AWS region (the pods' AWS_REGION for log shipping). @default 'us-east-1' */
  efsRegion?: string;
  /** @default '/branches' */
  efsRootPath?: string;
  /** Where the branch appears in worker (and scheduler) containers. @default SOURCE_MOUNT_PATH */
  sourceMountPath?: string;
  /** Prefix for node group names (e.g. a deployment stage). @default '' */
  nodeGroupPrefix?: string;
  /** @default 'recc:user:' */
  kubernetesGroupPrefix?: string;
  /** Nodes this cluster needs in its node group (plan.instances, or recomputed after a scale). */
  nodes?: number;
  /** ISO time of the first apply (namespace annotation). */
  appliedAt?: string;
  /**
   * IRSA role the cluster's pods assume for their S3 datastores, `{owner}` resolved
   * (e.g. `arn:aws:iam::123456789012:role/recc-data-{owner}`); the role should carry
   * the policy annotated on the ServiceAccount (`datastore-policy.ts`).
   */
  datastoreRoleArnTemplate?: string;
}

/** Documented mount path of the sourceGitBranch checkout inside containers. */
export const SOURCE_MOUNT_PATH = '/opt/recc/src';
const SECRET_VOLUME = 'recc-secrets';
const SOURCE_VOLUME = 'recc-source';
const TMP_VOLUME = 'tmp';
/** Runs as the `node` user of node:20-slim (see Dockerfile). */
const RUN_AS = 1000;
/** Written by `recc worker --ready-file` once registered with the scheduler: the worker's readiness probe. */
export const WORKER_READY_FILE = '/tmp/recc-worker-ready';
/** The Kubernetes version the Pod Security Admission levels are pinned to. */
const PSA_VERSION = 'v1.30';

/**
 * Recommended labels (app.kubernetes.io/*) on every object and pod, beside
 * recc's own (which selectors and node capacity use).
 */
export function appLabels(def: ClusterDefinition, component?: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'recc',
    'app.kubernetes.io/instance': def.labels[EKS_LABELS.cluster] ?? def.clusterId,
    'app.kubernetes.io/part-of': 'recc',
    'app.kubernetes.io/managed-by': MANAGED_BY,
    ...(component ? { 'app.kubernetes.io/component': component } : {}),
  };
}

/**
 * Pod Security Admission on the cluster namespace (issue 17 #8). The pods are
 * `restricted`-compliant (non-root, no privilege escalation, all capabilities
 * dropped, RuntimeDefault seccomp, and only secret, emptyDir and
 * persistentVolumeClaim volumes), so every namespace enforces `restricted`,
 * with or without a git source branch: the branch comes through the EFS CSI
 * driver (a static PersistentVolume and its claim, `buildSourceVolume`),
 * never as an `nfs` volume, which `restricted` forbids.
 */
export function podSecurityLabels(): Record<string, string> {
  return {
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/enforce-version': PSA_VERSION,
    'pod-security.kubernetes.io/warn': 'restricted',
    'pod-security.kubernetes.io/warn-version': PSA_VERSION,
    'pod-security.kubernetes.io/audit': 'restricted',
    'pod-security.kubernetes.io/audit-version': PSA_VERSION,
  };
}

/**
 * Size of the `/tmp` emptyDir: workers spill to it, so twice their memory
 * (at least 2 GiB); the scheduler 1 GiB. The container's ephemeral-storage
 * limit is that plus 1 GiB for logs; its request is 1 GiB, so the planner's
 * node packing (CPU, memory, pods, GPUs) is not changed by disk.
 */
export function tmpSizeGiB(component: string, memoryGiB: number): number {
  return component === 'worker' ? Math.max(2, Math.ceil(2 * memoryGiB)) : 1;
}

/** Either the real secret material (apply) or references only (`recc render`). */
export type SecretSource = { kind: 'values'; secrets: ClusterSecrets } | { kind: 'references' };

/** The placeholder `recc render` prints instead of a secret value. */
export function secretReference(key: string): string {
  return `<secret:${OBJECT_NAMES.secret}/${key}>`;
}

const BRANCH = /^(?!.*\.\.)(?!\/)[A-Za-z0-9._/-]{1,200}$/;

/** `a.b.c.d/n` with every octet 0–255 (no leading zeros) and n 0–32. */
export function isIpv4Cidr(text: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (!m) return false;
  const octetsOk = m.slice(1, 5).every((o) => Number(o) <= 255 && (o === '0' || !o.startsWith('0')));
  return octetsOk && Number(m[5]) <= 32;
}

function assertOptions(def: ClusterDefinition, options: ManifestOptions): void {
  const details: Array<{ path: string; message: string }> = [];
  if (options.serviceMode !== 'nlb' && options.serviceMode !== 'clusterip-ingress') {
    details.push({ path: 'serviceMode', message: 'must be "nlb" or "clusterip-ingress"' });
  }
  for (const [i, cidr] of options.allowedCidrs.entries()) {
    if (!isIpv4Cidr(cidr)) details.push({ path: `allowedCidrs[${i}]`, message: `"${cidr}" is not an IPv4 CIDR such as 203.0.113.0/24` });
  }
  for (const [i, cidr] of (options.egressCidrs ?? []).entries()) {
    if (!isIpv4Cidr(cidr)) details.push({ path: `egressCidrs[${i}]`, message: `"${cidr}" is not an IPv4 CIDR such as 10.40.0.0/16 (RECC_EKS_EGRESS_CIDRS)` });
  }
  if (options.serviceMode === 'clusterip-ingress' && !options.ingressDomain) {
    details.push({ path: 'ingressDomain', message: 'is required when serviceMode is "clusterip-ingress"' });
  }
  const branch = def.spec.sourceGitBranch;
  if (branch !== undefined && !BRANCH.test(branch)) {
    details.push({ path: 'spec.sourceGitBranch', message: 'must be a git branch name (letters, digits, "._/-", no "..")' });
  }
  if (branch !== undefined && !options.efsFileSystemId) {
    details.push({ path: 'efsFileSystemId', message: 'is required to mount sourceGitBranch (configure RECC_EKS_EFS_FILE_SYSTEM_ID)' });
  }
  // Floating images are refused at the source (spec schema, RECC_EKS_IMAGE); this is the last gate before a pod spec.
  for (const [path, image] of [['scheduler.image', def.scheduler.image], ['workers.image', def.workers.image]] as const) {
    const problem = image === LOCAL_IMAGE ? 'is the local placeholder: configure RECC_EKS_IMAGE (a digest-pinned reference) or name an image in the spec' : imageReferenceProblem(image);
    if (problem) details.push({ path, message: `${problem} (got "${image}")` });
  }
  if (details.length > 0) throw new EksManifestError(details);
}

function meta(def: ClusterDefinition, name: string, extraLabels: Record<string, string> = {}): K8sObject['metadata'] {
  return {
    name,
    namespace: def.namespace,
    labels: { ...def.labels, ...appLabels(def), [EKS_LABELS.managedBy]: MANAGED_BY, ...extraLabels },
  };
}

function selectorFor(def: ClusterDefinition, component: string): Record<string, string> {
  const cluster = def.labels[EKS_LABELS.cluster] ?? def.clusterId;
  return { [EKS_LABELS.cluster]: cluster, [EKS_LABELS.component]: component };
}

export function buildNamespace(def: ClusterDefinition, options: ManifestOptions): K8sObject {
  const annotations: Record<string, string> = {
    [EKS_ANNOTATIONS.owner]: def.owner,
    [EKS_ANNOTATIONS.clusterId]: def.clusterId,
    [EKS_ANNOTATIONS.instanceType]: def.plan.instanceType,
    [EKS_ANNOTATIONS.nodeGroup]: nodeGroupName(def.owner, def.plan.instanceType, options.nodeGroupPrefix),
    [EKS_ANNOTATIONS.nodes]: String(options.nodes ?? def.plan.instances),
  };
  if (def.job) annotations[EKS_ANNOTATIONS.job] = def.job;
  if (options.appliedAt) annotations[EKS_ANNOTATIONS.appliedAt] = options.appliedAt;
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: def.namespace,
      labels: { ...def.labels, ...appLabels(def), ...podSecurityLabels(), [EKS_LABELS.managedBy]: MANAGED_BY, [EKS_LABELS.state]: 'active' },
      annotations,
    },
  };
}

export function buildServiceAccount(def: ClusterDefinition, options: Pick<ManifestOptions, 'datastoreRoleArnTemplate'> = {}): K8sObject {
  const metadata = meta(def, OBJECT_NAMES.serviceAccount);
  // The S3 datastores of the spec: the least-privilege policy for them, and the role that carries it when configured.
  const policy = datastorePolicy(def.spec.datastores);
  if (policy) {
    metadata.annotations = { [DATASTORE_POLICY_ANNOTATION]: JSON.stringify(policy) };
    if (options.datastoreRoleArnTemplate) metadata.annotations['eks.amazonaws.com/role-arn'] = userRoleArn(options.datastoreRoleArnTemplate, def.owner);
  }
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata, automountServiceAccountToken: false };
}

/** The user's group may look at and debug its own cluster, in this namespace only. */
export function buildRole(def: ClusterDefinition): K8sObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(def, OBJECT_NAMES.role),
    rules: [
      { apiGroups: [''], resources: ['pods', 'pods/log', 'services', 'configmaps', 'events', 'resourcequotas', 'limitranges'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['pods/portforward'], verbs: ['create'] },
      { apiGroups: ['apps'], resources: ['deployments', 'replicasets'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingresses'], verbs: ['get', 'list', 'watch'] },
    ],
  };
}

export function buildRoleBinding(def: ClusterDefinition, options: ManifestOptions): K8sObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(def, OBJECT_NAMES.roleBinding),
    subjects: [{ kind: 'Group', name: userKubernetesGroup(def.owner, options.kubernetesGroupPrefix), apiGroup: 'rbac.authorization.k8s.io' }],
    roleRef: { kind: 'Role', name: OBJECT_NAMES.role, apiGroup: 'rbac.authorization.k8s.io' },
  };
}

function portOf(def: ClusterDefinition, name: string): number {
  const port = def.schedulerService.ports.find((p) => p.name === name)?.port ?? def.scheduler.ports.find((p) => p.name === name)?.port;
  if (port === undefined) throw new EksManifestError([{ path: `schedulerService.ports`, message: `has no port named "${name}"` }]);
  return port;
}

/** Default deny ingress; allow everything inside the namespace; desktops reach only the scheduler and dashboard ports. */
export function buildNetworkPolicies(def: ClusterDefinition, options: ManifestOptions): K8sObject[] {
  const commPort = portOf(def, 'comm');
  const dashboardPort = portOf(def, 'dashboard');
  const desktopIngress: Array<Record<string, unknown>> = [
    {
      from: options.allowedCidrs.map((cidr) => ({ ipBlock: { cidr } })),
      ports: [
        { protocol: 'TCP', port: commPort },
        { protocol: 'TCP', port: dashboardPort },
      ],
    },
  ];
  if (options.serviceMode === 'clusterip-ingress' && (options.ingressSourceCidrs ?? []).length > 0) {
    desktopIngress.push({
      from: (options.ingressSourceCidrs ?? []).map((cidr) => ({ ipBlock: { cidr } })),
      ports: [{ protocol: 'TCP', port: dashboardPort }],
    });
  }
  const controlPlane: K8sObject[] = (options.controlPlaneCidrs ?? []).length
    ? [
        {
          apiVersion: 'networking.k8s.io/v1',
          kind: 'NetworkPolicy',
          metadata: meta(def, OBJECT_NAMES.controlPlane),
          spec: {
            podSelector: { matchLabels: selectorFor(def, 'scheduler') },
            policyTypes: ['Ingress'],
            ingress: [{ from: (options.controlPlaneCidrs ?? []).map((cidr) => ({ ipBlock: { cidr } })), ports: [{ protocol: 'TCP', port: dashboardPort }] }],
          },
        },
      ]
    : [];
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(def, OBJECT_NAMES.denyAll),
      spec: { podSelector: {}, policyTypes: ['Ingress'] },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(def, OBJECT_NAMES.sameNamespace),
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: {} }] }] },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(def, OBJECT_NAMES.desktops),
      spec: { podSelector: { matchLabels: selectorFor(def, 'scheduler') }, policyTypes: ['Ingress'], ingress: desktopIngress },
    },
    ...controlPlane,
    buildEgressPolicy(def, options),
  ];
}

/** The EC2 instance metadata service: node credentials live there, so no pod may reach it. */
export const INSTANCE_METADATA_CIDR = '169.254.169.254/32';
/** The EKS Pod Identity agent on every node (the scheduler's own credentials come from it). */
export const POD_IDENTITY_AGENT_CIDR = '169.254.170.23/32';

/**
 * Egress of every pod (issue 17 #5): DNS to CoreDNS, the namespace's own pods
 * (workers ↔ scheduler, peer transfers), HTTPS anywhere except the instance
 * metadata service (S3, SQS, STS, CloudWatch Logs: public endpoints or VPC
 * endpoints alike, whose addresses NetworkPolicy cannot name), the Pod
 * Identity agent, and the configured CIDRs on any port. Everything else,
 * including 169.254.169.254 on every port, is dropped.
 */
export function buildEgressPolicy(def: ClusterDefinition, options: Pick<ManifestOptions, 'egressCidrs'>): K8sObject {
  const egress: Array<Record<string, unknown>> = [
    {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    },
    { to: [{ podSelector: {} }] },
    { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: [INSTANCE_METADATA_CIDR] } }], ports: [{ protocol: 'TCP', port: 443 }] },
    { to: [{ ipBlock: { cidr: POD_IDENTITY_AGENT_CIDR } }], ports: [{ protocol: 'TCP', port: 80 }] },
  ];
  const extra = options.egressCidrs ?? [];
  if (extra.length > 0) egress.push({ to: extra.map((cidr) => ({ ipBlock: { cidr, ...(cidrContainsMetadata(cidr) ? { except: [INSTANCE_METADATA_CIDR] } : {}) } })) });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(def, OBJECT_NAMES.egress),
    spec: { podSelector: {}, policyTypes: ['Egress'], egress },
  };
}

/** Whether an IPv4 CIDR covers 169.254.169.254 (a configured 0.0.0.0/0 must still not open the metadata service). */
function cidrContainsMetadata(cidr: string): boolean {
  const [base = '', bits = '32'] = cidr.split('/');
  const n = Number(bits);
  const toInt = (ip: string) => ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  return ((toInt(base) & mask) >>> 0) === ((toInt('169.254.169.254') & mask) >>> 0);
}

/** Whole-cluster totals in exact integer units (millicores, MiB), so quota equals the sum of pod requests. */
function totals(def: ClusterDefinition): { milliCpu: number; mib: number; pods: number; extended: Record<string, number> } {
  const workers = def.workers.replicas;
  const milli = (cpu: number) => Math.round(cpu * 1000);
  const mib = (gib: number) => Math.round(gib * 1024);
  const extended: Record<string, number> = {};
  for (const template of [def.scheduler, def.workers]) {
    for (const [k, v] of Object.entries(template.resources.extended)) {
      extended[k] = (extended[k] ?? 0) + v * template.replicas;
    }
  }
  // A job run's cluster also runs its driver (a Kubernetes Job, manifests/driver-job.ts).
  const driver = def.job === undefined ? 0 : 1;
  return {
    milliCpu: milli(def.scheduler.resources.cpu) * def.scheduler.replicas + milli(def.workers.resources.cpu) * workers + DRIVER_RESOURCES.milliCpu * driver,
    mib: mib(def.scheduler.resources.memoryGiB) * def.scheduler.replicas + mib(def.workers.resources.memoryGiB) * workers + DRIVER_RESOURCES.mib * driver,
    pods: def.scheduler.replicas + workers + driver,
    extended,
  };
}

/** Quota sized from the plan: exactly the scheduler plus the desired workers (rolling updates use maxSurge 0), plus a job run's driver. */
export function buildResourceQuota(def: ClusterDefinition, options: ManifestOptions): K8sObject {
  const t = totals(def);
  const hard: Record<string, string> = {
    pods: String(t.pods),
    'requests.cpu': `${t.milliCpu}m`,
    'limits.cpu': `${t.milliCpu}m`,
    'requests.memory': `${t.mib}Mi`,
    'limits.memory': `${t.mib}Mi`,
    'services.loadbalancers': options.serviceMode === 'nlb' ? '1' : '0',
    'services.nodeports': '0',
  };
  for (const [k, v] of Object.entries(t.extended)) hard[`requests.${k}`] = String(v);
  return { apiVersion: 'v1', kind: 'ResourceQuota', metadata: meta(def, OBJECT_NAMES.quota), spec: { hard } };
}

export function buildLimitRange(def: ClusterDefinition): K8sObject {
  const w = def.workers.resources;
  const s = def.scheduler.resources;
  const size = (cpu: number, gib: number) => ({ cpu: cpuQuantity(cpu), memory: memoryQuantity(gib) });
  return {
    apiVersion: 'v1',
    kind: 'LimitRange',
    metadata: meta(def, OBJECT_NAMES.limits),
    spec: {
      limits: [
        {
          type: 'Container',
          default: size(w.cpu, w.memoryGiB),
          defaultRequest: size(w.cpu, w.memoryGiB),
          max: size(Math.max(w.cpu, s.cpu), Math.max(w.memoryGiB, s.memoryGiB)),
        },
      ],
    },
  };
}

/**
 * The per-cluster Secret mounted at `secretMountPath`. The CA private key is
 * never put in the cluster: pods only verify, they do not issue.
 */
export function buildSecret(def: ClusterDefinition, source: SecretSource): K8sObject {
  const files: Array<[string, keyof ClusterSecrets]> = [
    [SECRET_FILES.token, 'token'],
    [SECRET_FILES.caCert, 'caCertPem'],
    [SECRET_FILES.serverCert, 'serverCertPem'],
    [SECRET_FILES.serverKey, 'serverKeyPem'],
  ];
  const secret: K8sObject = { apiVersion: 'v1', kind: 'Secret', metadata: meta(def, OBJECT_NAMES.secret), type: 'Opaque' };
  if (source.kind === 'references') {
    secret.stringData = Object.fromEntries(files.map(([file]) => [file, secretReference(file)]));
  } else {
    secret.data = Object.fromEntries(files.map(([file, key]) => [file, Buffer.from(source.secrets[key], 'utf8').toString('base64')]));
  }
  return secret;
}

/** The definition without secrets, kept in the namespace so `scale` can rebuild everything from the cluster alone. */
export function buildDefinitionConfigMap(def: ClusterDefinition): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(def, OBJECT_NAMES.definition),
    data: { 'definition.json': JSON.stringify(def) },
  };
}

export function schedulerDashboardHost(def: ClusterDefinition, options: ManifestOptions): string | undefined {
  return options.ingressDomain ? `${def.clusterId}.${options.ingressDomain}` : undefined;
}

/** Size the source PersistentVolume and its claim declare: EFS is elastic and the driver ignores it, but the API requires one. */
const SOURCE_CAPACITY = '1Gi';
/** The AWS EFS CSI driver (the `aws-efs-csi-driver` EKS add-on must be installed: README "Deploy to AWS"). */
export const EFS_CSI_DRIVER = 'efs.csi.aws.com';

/**
 * The cluster's git source (`sourceGitBranch`) as a static EFS CSI
 * PersistentVolume plus the PersistentVolumeClaim in the cluster namespace
 * that scheduler and worker pods mount read-only; none without a branch.
 *
 * - The PV is cluster-scoped, so it is named after the cluster's namespace
 *   (`sourceVolumeName`), and its `claimRef` pre-binds it to this cluster's
 *   claim only: no other claim can take it, and the claim names it back
 *   (`volumeName`), so neither waits for a provisioner (storageClassName "").
 * - `volumeHandle` is `<file system id>:<root>/<branch>`: the EFS CSI driver
 *   mounts that subpath of the file system (docs: static provisioning,
 *   "volume path"), the directory `recc source publish` fills.
 * - Reclaim policy `Retain`: deleting the claim or the PV must never delete
 *   the branch on EFS (other clusters read it); teardown deletes the PV
 *   object itself (adapters/eks/backend.ts).
 */
export function buildSourceVolume(def: ClusterDefinition, options: ManifestOptions): K8sObject[] {
  const branch = def.spec.sourceGitBranch;
  if (branch === undefined || !options.efsFileSystemId) return [];
  const root = (options.efsRootPath ?? '/branches').replace(/\/+$/, '');
  const pvName = sourceVolumeName(def.namespace);
  const labels = { ...def.labels, ...appLabels(def, 'source'), [EKS_LABELS.managedBy]: MANAGED_BY };
  const volume: K8sObject = {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: pvName, labels },
    spec: {
      capacity: { storage: SOURCE_CAPACITY },
      volumeMode: 'Filesystem',
      accessModes: ['ReadOnlyMany'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: '',
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: def.namespace, name: OBJECT_NAMES.sourceClaim },
      csi: { driver: EFS_CSI_DRIVER, volumeHandle: `${options.efsFileSystemId}:${root}/${branch}`, readOnly: true },
    },
  };
  const claim: K8sObject = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: meta(def, OBJECT_NAMES.sourceClaim, { 'app.kubernetes.io/component': 'source' }),
    spec: {
      accessModes: ['ReadOnlyMany'],
      volumeMode: 'Filesystem',
      storageClassName: '',
      volumeName: pvName,
      resources: { requests: { storage: SOURCE_CAPACITY } },
    },
  };
  return [volume, claim];
}

export function buildSchedulerService(def: ClusterDefinition, options: ManifestOptions): K8sObject {
  const ports = def.schedulerService.ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: 'TCP' }));
  const selector = selectorFor(def, 'scheduler');
  if (options.serviceMode === 'nlb') {
    const tags = Object.entries(def.tags)
      .filter(([k]) => ['user', 'namespace', 'job', 'cluster'].includes(k))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    return {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        ...meta(def, def.schedulerService.name, { [EKS_LABELS.component]: 'scheduler' }),
        annotations: {
          'service.beta.kubernetes.io/aws-load-balancer-type': 'external',
          'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internal',
          'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type': 'ip',
          // Issue 17 #4: with ip targets over TCP the NLB would hide the desktops behind its own private
          // addresses and the desktop-CIDR NetworkPolicy would drop them; preserving the client IP keeps the
          // policy meaningful. Health checks still come from the NLB's addresses, so they go to the
          // dashboard's open /health, which the control-plane (cluster subnet) policy admits.
          'service.beta.kubernetes.io/aws-load-balancer-target-group-attributes': 'preserve_client_ip.enabled=true',
          'service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol': 'http',
          'service.beta.kubernetes.io/aws-load-balancer-healthcheck-port': String(portOf(def, 'dashboard')),
          'service.beta.kubernetes.io/aws-load-balancer-healthcheck-path': '/health',
          'service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags': tags,
        },
      },
      // The NLB targets pod IPs (target-type ip), so no node ports are needed; and a LoadBalancer Service
      // without this uses one `services.nodeports` per port, which the quota (nodeports: 0) refuses with 403
      // (pkg/quota/v1/evaluator/core/services.go).
      spec: { type: 'LoadBalancer', selector, ports, allocateLoadBalancerNodePorts: false, loadBalancerSourceRanges: [...options.allowedCidrs] },
    };
  }
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(def, def.schedulerService.name, { [EKS_LABELS.component]: 'scheduler' }),
    spec: { type: 'ClusterIP', selector, ports },
  };
}

/** Dashboard over HTTP(S) through the ingress controller (`clusterip-ingress` mode only). */
export function buildIngress(def: ClusterDefinition, options: ManifestOptions): K8sObject | undefined {
  if (options.serviceMode !== 'clusterip-ingress') return undefined;
  const host = schedulerDashboardHost(def, options);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      ...meta(def, OBJECT_NAMES.ingress),
      annotations: {
        'alb.ingress.kubernetes.io/scheme': 'internal',
        'alb.ingress.kubernetes.io/target-type': 'ip',
        'alb.ingress.kubernetes.io/inbound-cidrs': options.allowedCidrs.join(','),
        'alb.ingress.kubernetes.io/tags': Object.entries(def.tags)
          .filter(([k]) => ['user', 'namespace', 'job', 'cluster'].includes(k))
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      },
    },
    spec: {
      ingressClassName: options.ingressClassName ?? 'alb',
      rules: [
        {
          host,
          http: {
            paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: def.schedulerService.name, port: { name: 'dashboard' } } } }],
          },
        },
      ],
    },
  };
}

function envOf(vars: EnvVar[], extra: EnvVar[]): Array<Record<string, unknown>> {
  return [...vars, ...extra].map((v) =>
    v.fieldRef ? { name: v.name, valueFrom: { fieldRef: { fieldPath: v.fieldRef } } } : { name: v.name, value: v.value ?? '' },
  );
}

function resourcesOf(template: PodTemplate): Record<string, Record<string, string>> {
  const amounts: Record<string, string> = {
    cpu: cpuQuantity(template.resources.cpu),
    memory: memoryQuantity(template.resources.memoryGiB),
  };
  for (const [k, v] of Object.entries(template.resources.extended)) amounts[k] = String(v);
  // Guaranteed QoS: requests equal limits, so a worker never gets evicted for using what it was promised.
  // (QoS looks at CPU and memory only: ephemeral storage asks little and caps at /tmp's size plus logs.)
  const tmp = tmpSizeGiB(template.component, template.resources.memoryGiB);
  return { requests: { ...amounts, 'ephemeral-storage': '1Gi' }, limits: { ...amounts, 'ephemeral-storage': `${tmp + 1}Gi` } };
}

function buildDeployment(def: ClusterDefinition, template: PodTemplate, options: ManifestOptions): K8sObject {
  const component = template.component;
  const group = nodeGroupName(def.owner, def.plan.instanceType, options.nodeGroupPrefix);
  const name = component === 'scheduler' ? OBJECT_NAMES.schedulerDeployment : OBJECT_NAMES.workerDeployment;
  const labels = { ...def.labels, ...appLabels(def, component), [EKS_LABELS.managedBy]: MANAGED_BY, [EKS_LABELS.component]: component };
  const branch = def.spec.sourceGitBranch;
  const sourceMount = options.sourceMountPath ?? SOURCE_MOUNT_PATH;
  const volumeMounts: Array<Record<string, unknown>> = [
    { name: SECRET_VOLUME, mountPath: def.secretMountPath, readOnly: true },
    { name: TMP_VOLUME, mountPath: '/tmp' },
  ];
  const volumes: Array<Record<string, unknown>> = [
    { name: SECRET_VOLUME, secret: { secretName: OBJECT_NAMES.secret, defaultMode: 0o440 } },
    { name: TMP_VOLUME, emptyDir: { sizeLimit: `${tmpSizeGiB(component, template.resources.memoryGiB)}Gi` } },
  ];
  const extraEnv: EnvVar[] = [];
  if (options.logGroup) {
    // Issue 21: the process ships its lines with this context (adapters/logs/context.ts names).
    extraEnv.push(
      { name: 'RECC_LOG_GROUP', value: options.logGroup },
      { name: 'AWS_REGION', value: options.efsRegion ?? 'us-east-1' },
      { name: 'RECC_CLUSTER_ID', value: def.clusterId },
      { name: 'RECC_OWNER', value: def.owner },
      { name: 'RECC_NAMESPACE', value: def.namespace },
      ...(def.job ? [{ name: 'RECC_JOB', value: def.job }] : []),
      { name: 'POD_NAME', fieldRef: 'metadata.name' },
    );
  }
  if (branch !== undefined && options.efsFileSystemId) {
    // The claim bound to this cluster's own PersistentVolume (buildSourceVolume): an EFS CSI mount, allowed by PSA `restricted`.
    volumes.push({ name: SOURCE_VOLUME, persistentVolumeClaim: { claimName: OBJECT_NAMES.sourceClaim, readOnly: true } });
    volumeMounts.push({ name: SOURCE_VOLUME, mountPath: sourceMount, readOnly: true });
    extraEnv.push({ name: 'RECC_SOURCE_DIR', value: sourceMount }, { name: 'RECC_SOURCE_BRANCH', value: branch });
  }
  const args = [...template.args];
  // Ready only once registered with the scheduler (the file is removed when the worker stops).
  if (component === 'worker' && !args.includes('--ready-file')) args.push('--ready-file', WORKER_READY_FILE);
  if (component === 'worker' && !args.includes('--contact-host')) {
    // Peers fetch results from each worker's data port: listen on the pod network, advertise the pod IP.
    if (!args.includes('--host')) args.push('--host', '0.0.0.0');
    args.push('--contact-host', '$(POD_IP)');
    if (!template.env.some((e) => e.name === 'POD_IP')) extraEnv.push({ name: 'POD_IP', fieldRef: 'status.podIP' });
  }
  const container: Record<string, unknown> = {
    name: component,
    image: template.image,
    imagePullPolicy: 'IfNotPresent',
    command: [...template.command],
    args,
    env: envOf(template.env, extraEnv),
    ports: template.ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' })),
    resources: resourcesOf(template),
    volumeMounts,
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
  };
  // The processes run in the branch's tree, as on the local backend (relative paths in command tasks resolve there).
  if (volumeMounts.some((m) => m.name === SOURCE_VOLUME)) container.workingDir = sourceMount;
  if (component === 'scheduler') {
    container.readinessProbe = { httpGet: { path: '/health', port: 'dashboard' }, periodSeconds: 5, failureThreshold: 3 };
    // A wedged scheduler (its HTTP loop stops answering for a minute) is restarted; /health needs no token.
    container.livenessProbe = { httpGet: { path: '/health', port: 'dashboard' }, initialDelaySeconds: 15, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 };
  } else {
    container.readinessProbe = { exec: { command: ['test', '-f', WORKER_READY_FILE] }, periodSeconds: 5, failureThreshold: 2 };
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(def, name, { [EKS_LABELS.component]: component }),
    spec: {
      replicas: template.replicas,
      revisionHistoryLimit: 2,
      selector: { matchLabels: selectorFor(def, component) },
      strategy:
        component === 'scheduler' ? { type: 'Recreate' } : { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: '25%' } },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: OBJECT_NAMES.serviceAccount,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          nodeSelector: { [EKS_LABELS.nodeGroup]: group },
          tolerations: [{ key: EKS_LABELS.nodeGroup, operator: 'Equal', value: group, effect: 'NoSchedule' }],
          securityContext: { runAsNonRoot: true, runAsUser: RUN_AS, runAsGroup: RUN_AS, fsGroup: RUN_AS, seccompProfile: { type: 'RuntimeDefault' } },
          terminationGracePeriodSeconds: 30,
          containers: [container],
          volumes,
        },
      },
    },
  };
}

export function buildSchedulerDeployment(def: ClusterDefinition, options: ManifestOptions): K8sObject {
  return buildDeployment(def, def.scheduler, options);
}

export function buildWorkerDeployment(def: ClusterDefinition, options: ManifestOptions): K8sObject {
  return buildDeployment(def, def.workers, options);
}

/**
 * The scheduler holds the cluster's state (task graph, results' locations):
 * a voluntary eviction (node drain, cluster upgrade) must not take it while it
 * is healthy. recc's own scale-in terminates instances through Auto Scaling,
 * never by eviction, so this does not hold back its node groups; an unhealthy
 * scheduler may still be evicted (`unhealthyPodEvictionPolicy: AlwaysAllow`).
 */
export function buildSchedulerDisruptionBudget(def: ClusterDefinition): K8sObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(def, OBJECT_NAMES.schedulerDisruptionBudget, { [EKS_LABELS.component]: 'scheduler' }),
    spec: { minAvailable: 1, selector: { matchLabels: selectorFor(def, 'scheduler') }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
  };
}

/** Every object of a cluster, in apply order (teardown reverses it). */
export function buildClusterManifests(def: ClusterDefinition, options: ManifestOptions, secrets: SecretSource): K8sObject[] {
  assertOptions(def, options);
  const objects: K8sObject[] = [
    buildNamespace(def, options),
    buildServiceAccount(def, options),
    buildRole(def),
    buildRoleBinding(def, options),
    ...buildNetworkPolicies(def, options),
    buildResourceQuota(def, options),
    buildLimitRange(def),
    buildSecret(def, secrets),
    buildDefinitionConfigMap(def),
    ...buildSourceVolume(def, options),
    buildSchedulerService(def, options),
    buildSchedulerDisruptionBudget(def),
    buildSchedulerDeployment(def, options),
    buildWorkerDeployment(def, options),
  ];
  const ingress = buildIngress(def, options);
  if (ingress) objects.push(ingress);
  return objects;
}
