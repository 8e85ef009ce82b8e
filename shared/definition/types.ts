import type { ClusterSpec, Plan } from '../spec/types.ts';

/**
 * The rendered cluster definition: everything a compute backend needs to run
 * a cluster, built purely from a resolved spec and plan (`render.ts`). The
 * local-process backend and the EKS backend consume the same object, so what
 * is tested locally is what runs on EKS.
 *
 * Secret material is never inlined in pod specs: pods reference files under
 * `secretMountPath` (a Secret volume on EKS, a 0600 directory locally).
 */
export interface EnvVar {
  name: string;
  /** Literal value. */
  value?: string;
  /** Filled from the pod's own identity at run time (EKS downward API / local equivalent). */
  fieldRef?: 'metadata.name' | 'status.podIP' | 'metadata.namespace';
}

export interface ContainerPort {
  name: string;
  port: number;
}

export interface PodResources {
  cpu: number;
  memoryGiB: number;
  /** Extended resources, e.g. `{ 'nvidia.com/gpu': 1 }`. */
  extended: Record<string, number>;
}

export interface PodTemplate {
  /** `scheduler` or `worker`. */
  component: 'scheduler' | 'worker';
  image: string;
  /** argv[0..]: the container entrypoint, e.g. `['recc']`. */
  command: string[];
  /** e.g. `['scheduler', '--port', '8786', …]` or `['worker', 'tls://…', …]`. */
  args: string[];
  env: EnvVar[];
  resources: PodResources;
  ports: ContainerPort[];
  replicas: number;
}

export interface ServiceDefinition {
  name: string;
  component: 'scheduler';
  ports: ContainerPort[];
}

/** Generated per cluster. Never logged, never printed by `recc render`. */
export interface ClusterSecrets {
  token: string;
  caCertPem: string;
  caKeyPem: string;
  serverCertPem: string;
  serverKeyPem: string;
}

/** File names inside `secretMountPath`. */
export const SECRET_FILES = {
  token: 'token',
  caCert: 'ca.pem',
  serverCert: 'tls.crt',
  serverKey: 'tls.key',
} as const;

export interface ClusterDefinition {
  clusterId: string;
  owner: string;
  namespace: string;
  job?: string;
  /** Labels for every object (and cost tags for every AWS resource). */
  labels: Record<string, string>;
  tags: Record<string, string>;
  spec: ClusterSpec;
  plan: Plan;
  /** Where pods find the secret files (SECRET_FILES). */
  secretMountPath: string;
  /** Address workers and in-cluster clients use to reach the scheduler. */
  schedulerService: ServiceDefinition;
  scheduler: PodTemplate;
  workers: PodTemplate;
}
