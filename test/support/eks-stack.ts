import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { afterEach, beforeEach } from 'vitest';
import { EKSClient } from '@aws-sdk/client-eks';
import { EksComputeBackend, type EksBackendDeps, type EksConfigSubset } from '../../adapters/eks/backend.ts';
import { KubeClients } from '../../adapters/eks/kube.ts';
import { EKS_LABELS } from '../../adapters/eks/manifests/naming.ts';
import { allocatable } from '../../shared/catalog/allocatable.ts';
import { getInstanceType } from '../../shared/catalog/instances.ts';
import type { Clock } from '../../shared/core/clock.ts';
import type { Logger } from '../../shared/core/logger.ts';
import { renderCluster } from '../../shared/definition/render.ts';
import type { ClusterDefinition, ClusterSecrets } from '../../shared/definition/types.ts';
import { planCluster } from '../../shared/plan/planner.ts';
import { resolveSpec } from '../../shared/spec/resolve.ts';
import { AsgModel, type AsgModelOptions, type ModelInstance } from '../fakes/asg-model.ts';
import { TEST_EKS_IMAGE } from './eks-image.ts';
import { EksAccessModel } from '../fakes/eks-access-model.ts';
import { FakeKubeApiServer, type ControllerTiming, type FakeKubeApiServerOptions } from '../fakes/k8s-api-server.ts';

/**
 * The EKS backend's test world: the fake Kubernetes API server (with its
 * kubelet), the Auto Scaling model and the EKS access-entry model behind
 * aws-sdk-client-mock, wired so that an instance launched by a node group
 * joins the cluster as a Node (labels and taint from its propagated tags,
 * allocatable from the instance catalog, as the EKS bootstrap does) and a
 * terminated instance's Node disappears.
 */
export const TEST_CLUSTER_NAME = 'recc-test';
export const TEST_TOKEN = 'fake-eks-bearer-token';

export { TEST_EKS_IMAGE };

export const TEST_EKS_CONFIG: EksConfigSubset = {
  clusterName: TEST_CLUSTER_NAME,
  image: TEST_EKS_IMAGE,
  region: 'us-east-1',
  allowedCidrs: ['10.20.0.0/16', '192.168.10.0/24'],
  // The fake API server's service proxy dials pods from 10.0.250.10 (its control-plane address).
  controlPlaneCidrs: ['10.0.0.0/16'],
  serviceMode: 'nlb',
  ingressSourceCidrs: [],
  efsFileSystemId: 'fs-0123456789abcdef0',
  efsRootPath: '/branches',
  nodeGroupPrefix: '',
  launchTemplateName: 'recc-eks-node',
  launchTemplateVersion: '$Latest',
  subnetIds: ['subnet-aaa', 'subnet-bbb'],
  maxNodesPerGroup: 40,
  maxNodesByInstanceType: {},
  userRoleArnTemplate: 'arn:aws:iam::123456789012:role/recc-user-{owner}',
  kubernetesGroupPrefix: 'recc:user:',
};

export interface EksStack {
  fake: FakeKubeApiServer;
  asg: AsgModel;
  eks: EksAccessModel;
  kube: KubeClients;
  makeBackend(overrides?: Partial<EksConfigSubset>, extra?: { clock?: Clock; logger?: Logger; autoScaling?: AutoScalingClient; schedulerRoleArn?: string; warm?: EksBackendDeps['warm'] }): EksComputeBackend;
  close(): Promise<void>;
}

/**
 * Seeded delays for every modelled AWS call so concurrent callers interleave:
 * usually 0–3 event-loop turns, and one call in eight waits 5–40 ms, long
 * enough for other operations to run whole apply/teardown sequences inside
 * another's read-then-write window (the races node capacity must survive).
 */
export function jitter(seed = 42): () => Promise<void> {
  let s = seed >>> 0;
  return async () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    if (s % 8 === 0) {
      await new Promise((r) => setTimeout(r, 5 + ((s >>> 8) % 36)));
      return;
    }
    for (let i = 0; i < s % 4; i += 1) await new Promise((r) => setImmediate(r));
  };
}

function nodeFor(instance: ModelInstance, n: number) {
  const type = getInstanceType(instance.InstanceType);
  const alloc = allocatable(type);
  const group = instance.tags['recc.io/nodegroup'] ?? '';
  return {
    name: `ip-10-0-${Math.floor(n / 250)}-${(n % 250) + 1}.ec2.internal`,
    providerID: `aws:///${instance.AvailabilityZone}/${instance.InstanceId}`,
    labels: {
      [EKS_LABELS.nodeGroup]: group,
      'node.kubernetes.io/instance-type': instance.InstanceType,
      'topology.kubernetes.io/zone': instance.AvailabilityZone,
    },
    taints: [{ key: EKS_LABELS.nodeGroup, value: group, effect: 'NoSchedule' }],
    allocatable: {
      cpu: `${Math.floor(alloc.cpu * 1000)}m`,
      memory: `${Math.floor(alloc.memoryGiB * 1024)}Mi`,
      pods: String(alloc.pods),
      ...(alloc.gpus > 0 ? { 'nvidia.com/gpu': String(alloc.gpus) } : {}),
    },
  };
}

export function newAutoScalingClient(): AutoScalingClient {
  return new AutoScalingClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
}

export async function startEksStack(
  options: {
    latency?: boolean;
    /** Seed of the latency jitter (chaos runs draw one per seed). @default 42 */
    latencySeed?: number;
    now?: () => number;
    gate?: (command: string, input: any, client: unknown) => Promise<void> | void;
    /** Controller delays of the fake API server (issue 22 strict mode). */
    timing?: ControllerTiming;
    /** Strict Auto Scaling behaviour (faults, Terminating instances, Describe lag). */
    asg?: Pick<AsgModelOptions, 'fault' | 'terminatingMs' | 'describeLagMs'>;
    /** More fake API server options (issue 22 #6: user authentication and access policies). */
    fake?: Pick<FakeKubeApiServerOptions, 'authenticate' | 'accessPolicies' | 'controlPlaneIp' | 'tls' | 'tickMs' | 'namespaceFinalizeMs'>;
    /** How the backend's Kubernetes client waits before a retry (the chaos run compresses time). */
    kubeSleep?: (ms: number) => Promise<void>;
  } = {},
): Promise<EksStack> {
  const fake = await FakeKubeApiServer.start({
    token: TEST_TOKEN,
    ...(options.now ? { now: options.now } : {}),
    ...(options.timing ? { timing: options.timing } : {}),
    ...options.fake,
  });
  const nodeNames = new Map<string, string>();
  let nodeSeq = 0;
  const latency = options.latency ? jitter(options.latencySeed) : undefined;
  const asg = new AsgModel({
    ...(options.now ? { now: options.now } : {}),
    ...(latency ? { latency } : {}),
    ...(options.gate ? { gate: options.gate } : {}),
    ...options.asg,
    onLaunch: (instance) => {
      nodeSeq += 1;
      const node = nodeFor(instance, nodeSeq);
      nodeNames.set(instance.InstanceId, node.name);
      fake.kubelet.addNode(node);
    },
    onTerminate: (instance) => {
      const name = nodeNames.get(instance.InstanceId);
      if (name) fake.kubelet.removeNode(name);
    },
  }).install();
  const eks = new EksAccessModel(TEST_CLUSTER_NAME, latency).install();
  const kube = new KubeClients({ server: fake.url, token: TEST_TOKEN, skipTLSVerify: true, ...(options.kubeSleep ? { sleep: options.kubeSleep } : {}) });
  return {
    fake,
    asg,
    eks,
    kube,
    makeBackend(overrides = {}, extra = {}) {
      return new EksComputeBackend({
        config: { ...TEST_EKS_CONFIG, ...overrides },
        kube,
        autoScaling: extra.autoScaling ?? newAutoScalingClient(),
        eks: new EKSClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
        ...(extra.clock ? { clock: extra.clock } : {}),
        ...(extra.logger ? { logger: extra.logger } : {}),
        ...(extra.schedulerRoleArn ? { schedulerRoleArn: extra.schedulerRoleArn } : {}),
        ...(extra.warm ? { warm: extra.warm } : {}),
      });
    },
    async close() {
      asg.restore();
      eks.restore();
      await fake.close();
    },
  };
}

/**
 * A fresh stack per test, closed after it: the usual set-up of an EKS test
 * file. `ready` runs once the stack is up (keep it in your own variables,
 * make the backend there).
 */
export function useEksStack(ready: (stack: EksStack) => void | Promise<void>, options: Parameters<typeof startEksStack>[0] = {}): void {
  let stack: EksStack | undefined;
  beforeEach(async () => {
    stack = await startEksStack(options);
    await ready(stack);
  });
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });
}

export interface TestClusterRequest {
  clusterId: string;
  owner?: string;
  workers?: number;
  instanceType?: string;
  image?: string;
  job?: string;
  overrides?: Record<string, unknown>;
}

/** A definition exactly as the provisioner renders it: resolveSpec → planCluster → renderCluster. */
export function testDefinition(request: TestClusterRequest): ClusterDefinition {
  const owner = request.owner ?? 'arathe';
  const spec = resolveSpec({
    overrides: {
      nWorkers: request.workers ?? 2,
      instanceType: request.instanceType ?? 'c5.xlarge',
      ...(request.image ? { image: request.image } : {}),
      ...(request.job ? { job: request.job } : {}),
      ...request.overrides,
    },
  });
  const plan = planCluster(spec);
  return renderCluster(
    { clusterId: request.clusterId, owner, namespace: `recc-${owner}-${request.clusterId}`.slice(0, 63).replace(/-+$/, ''), spec, plan },
    { defaultImage: TEST_EKS_IMAGE },
  );
}

/** Secret material with recognisable values (no crypto needed: the fake kubelet never starts TLS). */
export function testSecrets(clusterId: string): ClusterSecrets {
  return {
    token: `tok-${clusterId}-s3cr3t`,
    caCertPem: `-----BEGIN CERTIFICATE-----\nCA-${clusterId}\n-----END CERTIFICATE-----\n`,
    caKeyPem: `-----BEGIN PRIVATE KEY-----\nCAKEY-${clusterId}\n-----END PRIVATE KEY-----\n`,
    serverCertPem: `-----BEGIN CERTIFICATE-----\nSERVER-${clusterId}\n-----END CERTIFICATE-----\n`,
    serverKeyPem: `-----BEGIN PRIVATE KEY-----\nSERVERKEY-${clusterId}\n-----END PRIVATE KEY-----\n`,
  };
}
