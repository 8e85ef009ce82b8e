import { LOCAL_IMAGE } from '../spec/image.ts';
import type { ErrorDetail } from '../core/errors.ts';
import { own } from '../core/own.ts';
import { DATASTORES_JSON_ENV } from '../datastores/config.ts';
import type { ClusterSpec, Plan } from '../spec/types.ts';
import { DefinitionValidationError } from './errors.ts';

/** The scheduler's adaptive bounds (the spec's `adaptive`, as JSON). */
export const ADAPTIVE_JSON_ENV = 'RECC_ADAPTIVE_JSON';
import { SECRET_FILES, type ClusterDefinition, type EnvVar, type PodTemplate, type ServiceDefinition } from './types.ts';

/**
 * Renders the cluster definition: the scheduler and worker pod templates,
 * the scheduler service, labels and cost tags, built purely from a resolved
 * spec and its plan. The EKS backend turns it into Kubernetes objects; the
 * local-process backend runs the same commands as child processes after
 * rewriting the in-cluster host, ports and secret mount path to local values
 * (see `adapters/local-backend/rewrite.ts`).
 */
export interface RenderInput {
  clusterId: string;
  owner: string;
  namespace: string;
  job?: string;
  spec: ClusterSpec;
  plan: Plan;
  /** Workers wanted now (defaults to spec.nWorkers). */
  desiredWorkers?: number;
}

export interface RenderOptions {
  /**
   * The deployment's image, used when the spec names none (the backend's
   * `defaultImage`: RECC_EKS_IMAGE on EKS). A spec's own image wins.
   * @default LOCAL_IMAGE, which only backends that run no container accept
   * (the EKS manifest builder refuses it).
   */
  defaultImage?: string;
  /** @default 8786 */
  schedulerPort?: number;
  /** @default 8787 */
  dashboardPort?: number;
  /** @default '/etc/recc/secrets' */
  secretMountPath?: string;
}

export const DEFAULT_SCHEDULER_PORT = 8786;
export const DEFAULT_DASHBOARD_PORT = 8787;
export const DEFAULT_SECRET_MOUNT_PATH = '/etc/recc/secrets';
export const SCHEDULER_SERVICE_NAME = 'recc-scheduler';

/** Label keys put on every object of a cluster. */
export const LABELS = {
  cluster: 'recc.io/cluster',
  owner: 'recc.io/owner',
  job: 'recc.io/job',
  component: 'recc.io/component',
} as const;

/** Spec resource names that map to Kubernetes extended resources. */
const EXTENDED_RESOURCES: Record<string, string> = { gpu: 'nvidia.com/gpu' };

/** In-cluster DNS name of the scheduler service. */
export function schedulerServiceHost(namespace: string, serviceName: string = SCHEDULER_SERVICE_NAME): string {
  return `${serviceName}.${namespace}.svc`;
}

/** DNS names the scheduler's server certificate must cover inside the cluster. */
export function schedulerDnsNames(namespace: string, serviceName: string = SCHEDULER_SERVICE_NAME): string[] {
  return [serviceName, `${serviceName}.${namespace}`, `${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.cluster.local`];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** Make any string a valid Kubernetes label value (≤63 chars, alphanumerics and `-_.`, alphanumeric ends). */
export function toLabelValue(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 63);
  return cleaned.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
}

function validate(input: RenderInput, options: RenderOptions): void {
  const details: ErrorDetail[] = [];
  if (!DNS_LABEL.test(input.clusterId) || input.clusterId.length > 63) {
    details.push({ path: 'clusterId', message: 'must be a DNS label (lowercase letters, digits and "-", at most 63 characters)' });
  }
  if (!DNS_LABEL.test(input.namespace) || input.namespace.length > 63) {
    details.push({ path: 'namespace', message: 'must be a DNS label (lowercase letters, digits and "-", at most 63 characters)' });
  }
  if (!input.owner.trim()) details.push({ path: 'owner', message: 'is required' });
  const workers = input.desiredWorkers ?? input.spec.nWorkers;
  if (!Number.isInteger(workers) || workers < 0) {
    details.push({ path: 'desiredWorkers', message: 'must be a whole number of 0 or more' });
  }
  if (!(input.spec.workerCpu > 0)) details.push({ path: 'spec.workerCpu', message: 'must be positive' });
  if (!(input.spec.workerMemoryGiB > 0)) details.push({ path: 'spec.workerMemoryGiB', message: 'must be positive' });
  for (const [name, port] of [
    ['schedulerPort', options.schedulerPort],
    ['dashboardPort', options.dashboardPort],
  ] as const) {
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      details.push({ path: `options.${name}`, message: 'must be a port number between 1 and 65535' });
    }
  }
  if (options.schedulerPort !== undefined && options.schedulerPort === options.dashboardPort) {
    details.push({ path: 'options.dashboardPort', message: 'must differ from the scheduler port' });
  }
  const image = input.spec.image ?? options.defaultImage ?? LOCAL_IMAGE;
  if (!image?.trim()) details.push({ path: 'spec.image', message: 'is required (the spec names no image and the deployment configures an empty one)' });
  for (const [name, value] of Object.entries(input.spec.resources)) {
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name)) details.push({ path: `spec.resources.${name}`, message: 'name must be letters, digits, "_", "." or "-"' });
    if (!(value > 0)) details.push({ path: `spec.resources.${name}`, message: 'must be positive' });
  }
  if (details.length > 0) throw new DefinitionValidationError(details);
}

/** Format a number for a command line without exponent or trailing zeros. */
function num(n: number): string {
  return String(Number(n.toFixed(6)));
}

export function renderCluster(input: RenderInput, options: RenderOptions = {}): ClusterDefinition {
  validate(input, options);
  const { spec, plan, clusterId, owner, namespace } = input;
  const job = input.job ?? spec.job;
  const schedulerPort = options.schedulerPort ?? DEFAULT_SCHEDULER_PORT;
  const dashboardPort = options.dashboardPort ?? DEFAULT_DASHBOARD_PORT;
  const mount = (options.secretMountPath ?? DEFAULT_SECRET_MOUNT_PATH).replace(/\/+$/, '');
  const image = spec.image ?? options.defaultImage ?? LOCAL_IMAGE;
  const secret = (file: string): string => `${mount}/${file}`;

  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.tags)) {
    const value = toLabelValue(v);
    if (LABEL_NAME.test(k) && k.length <= 63 && LABEL_VALUE.test(value)) labels[k] = value;
  }
  labels[LABELS.cluster] = toLabelValue(clusterId);
  labels[LABELS.owner] = toLabelValue(owner);
  if (job) labels[LABELS.job] = toLabelValue(job);

  const tags: Record<string, string> = { ...spec.tags, user: owner, namespace, cluster: clusterId };
  if (job) tags.job = job;

  const baseEnv = (component: string): EnvVar[] => {
    const system: EnvVar[] = [
      { name: 'RECC_CLUSTER_ID', value: clusterId },
      { name: 'RECC_COMPONENT', value: component },
      { name: 'POD_NAME', fieldRef: 'metadata.name' },
      { name: 'POD_NAMESPACE', fieldRef: 'metadata.namespace' },
    ];
    // The spec's datastores reach the workers' loader (adapters/datastores/load-config.ts); the user's env cannot shadow them.
    if (component === 'worker' && spec.datastores) system.push({ name: DATASTORES_JSON_ENV, value: JSON.stringify(spec.datastores) });
    // An adaptive scheduler sizes the cluster itself (scheduler/state/adaptive.ts).
    if (component === 'scheduler' && spec.adaptive) system.push({ name: ADAPTIVE_JSON_ENV, value: JSON.stringify(spec.adaptive) });
    // The dashboard header names a scheduled-job cluster's job and run (scheduler/main.ts).
    if (component === 'scheduler' && job) system.push({ name: 'RECC_CLUSTER_JOB', value: job });
    const run = spec.tags['recc-run'];
    if (component === 'scheduler' && run) system.push({ name: 'RECC_CLUSTER_RUN', value: run });
    const reserved = new Set(system.map((e) => e.name));
    const user = Object.keys(spec.env)
      .sort()
      .filter((name) => !reserved.has(name))
      .map((name) => ({ name, value: spec.env[name] ?? '' }));
    return [...user, ...system];
  };

  const ports = [
    { name: 'comm', port: schedulerPort },
    { name: 'dashboard', port: dashboardPort },
  ];
  const schedulerService: ServiceDefinition = { name: SCHEDULER_SERVICE_NAME, component: 'scheduler', ports };

  const scheduler: PodTemplate = {
    component: 'scheduler',
    image,
    command: ['recc'],
    args: [
      'scheduler',
      '--port', String(schedulerPort),
      '--host', '0.0.0.0',
      '--token-file', secret(SECRET_FILES.token),
      '--tls-cert', secret(SECRET_FILES.serverCert),
      '--tls-key', secret(SECRET_FILES.serverKey),
      '--dashboard-port', String(dashboardPort),
    ],
    env: baseEnv('scheduler'),
    resources: { cpu: spec.schedulerCpu, memoryGiB: spec.schedulerMemoryGiB, extended: {} },
    ports,
    replicas: 1,
  };

  const extended: Record<string, number> = {};
  const resourceArgs: string[] = [];
  for (const name of Object.keys(spec.resources).sort()) {
    const value = spec.resources[name] ?? 0;
    resourceArgs.push('--resource', `${name}=${num(value)}`);
    const k8sName = own(EXTENDED_RESOURCES, name.toLowerCase());
    if (k8sName) extended[k8sName] = Math.ceil(value);
  }

  const workers: PodTemplate = {
    component: 'worker',
    image,
    command: ['recc'],
    args: [
      'worker',
      `tls://${schedulerServiceHost(namespace)}:${schedulerPort}`,
      '--token-file', secret(SECRET_FILES.token),
      '--tls-ca', secret(SECRET_FILES.caCert),
      '--nthreads', String(Math.max(1, Math.ceil(spec.workerCpu))),
      '--memory-limit', num(spec.workerMemoryGiB),
      ...resourceArgs,
      '--name', '$(POD_NAME)',
    ],
    env: baseEnv('worker'),
    resources: { cpu: spec.workerCpu, memoryGiB: spec.workerMemoryGiB, extended },
    ports: [],
    replicas: input.desiredWorkers ?? spec.nWorkers,
  };

  return {
    clusterId,
    owner,
    namespace,
    ...(job ? { job } : {}),
    labels,
    tags,
    spec,
    plan,
    secretMountPath: mount,
    schedulerService,
    scheduler,
    workers,
  };
}

/**
 * Expand Kubernetes-style `$(VAR)` references in an argument from the pod's
 * environment, as the kubelet does (`$$(VAR)` escapes; unknown names stay).
 */
export function expandArg(arg: string, env: Record<string, string>): string {
  return arg.replace(/\$\$\(|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (match, name: string | undefined) => {
    if (name === undefined) return '$(';
    return Object.hasOwn(env, name) ? (env[name] ?? '') : match;
  });
}
