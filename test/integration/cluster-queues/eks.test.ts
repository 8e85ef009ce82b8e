import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQSClient } from '@aws-sdk/client-sqs';
import {
  CreatePodIdentityAssociationCommand,
  DeletePodIdentityAssociationCommand,
  EKSClient,
  InvalidParameterException,
  ListPodIdentityAssociationsCommand,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-eks';
import { buildApp } from 'fauxqs';
import type { AddressInfo } from 'node:net';
import { SqsClusterQueues } from '../../../adapters/cluster-queues/sqs.ts';
import { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { OBJECT_NAMES } from '../../../adapters/eks/manifests/naming.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { Provisioner } from '../../../control/provisioner.ts';
import { systemClock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { initialChange, newClusterRecord, transition } from '../../../shared/lifecycle/machine.ts';
import { planCluster } from '../../../shared/plan/planner.ts';
import { QUEUE_ENV } from '../../../shared/ports/cluster-queues.ts';
import { resolveSpec } from '../../../shared/spec/resolve.ts';
import { TEST_CLUSTER_NAME, TEST_EKS_CONFIG, newAutoScalingClient, startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * The EKS path: the provisioner with the EKS backend on the fake Kubernetes
 * API server (and the ASG/EKS models) and the cluster queues on fauxqs. The
 * queues come with the cluster, their URL reaches the scheduler Deployment's
 * env and the RUNNING record, and they go with a delete or a failure.
 */
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const SCHEDULER_ROLE = 'arn:aws:iam::123456789012:role/recc-test-cluster-scheduler';

/** EKS Pod Identity associations with the service's errors, added to the stack's EKS mock. */
class PodIdentityModel {
  readonly associations = new Map<string, { associationId: string; namespace: string; serviceAccount: string; roleArn: string; tags: Record<string, string> }>();
  private next = 0;
  install(stack: EksStack): void {
    const stub = stack.eks.stub!;
    const cluster = (name: string) => {
      if (name !== TEST_CLUSTER_NAME) throw new ResourceNotFoundException({ $metadata: { httpStatusCode: 404 }, message: `No cluster found for name: ${name}.` });
    };
    stub.on(ListPodIdentityAssociationsCommand).callsFake(async (i: any) => {
      cluster(i.clusterName);
      return { associations: [...this.associations.values()].filter((a) => a.namespace === i.namespace).map(({ associationId, namespace, serviceAccount }) => ({ associationId, namespace, serviceAccount, clusterName: i.clusterName })) };
    });
    stub.on(CreatePodIdentityAssociationCommand).callsFake(async (i: any) => {
      cluster(i.clusterName);
      if (!/^arn:aws:iam::\d{12}:role\//.test(i.roleArn)) throw new InvalidParameterException({ $metadata: { httpStatusCode: 400 }, message: 'roleArn is not valid' });
      if ([...this.associations.values()].some((a) => a.namespace === i.namespace && a.serviceAccount === i.serviceAccount)) {
        throw new ResourceInUseException({ $metadata: { httpStatusCode: 409 }, message: 'Association already exists' });
      }
      const associationId = `a-${(this.next++).toString().padStart(6, '0')}`;
      this.associations.set(associationId, { associationId, namespace: i.namespace, serviceAccount: i.serviceAccount, roleArn: i.roleArn, tags: i.tags ?? {} });
      return { association: { associationId } };
    });
    stub.on(DeletePodIdentityAssociationCommand).callsFake(async (i: any) => {
      cluster(i.clusterName);
      if (!this.associations.delete(i.associationId)) throw new ResourceNotFoundException({ $metadata: { httpStatusCode: 404 }, message: 'Association not found' });
      return {};
    });
  }
}

describe('Feature: cluster queues with the EKS backend', () => {
  let stack: EksStack;
  let backend: EksComputeBackend;
  let app: ReturnType<typeof buildApp>;
  let sqs: SQSClient;
  let queues: SqsClusterQueues;
  const pods = new PodIdentityModel();

  beforeAll(async () => {
    stack = await startEksStack();
    pods.install(stack);
    backend = new EksComputeBackend({
      config: TEST_EKS_CONFIG,
      kube: stack.kube,
      autoScaling: newAutoScalingClient(),
      eks: new EKSClient({ region: 'us-east-1', credentials }),
      schedulerRoleArn: SCHEDULER_ROLE,
    });
    app = buildApp({ logger: false, host: '127.0.0.1' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    sqs = new SQSClient({ endpoint: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, region: 'us-east-1', credentials });
    queues = new SqsClusterQueues({ client: sqs, prefix: 'recc-eks-', payloadBucket: 'recc-eks-payloads' });
  });

  afterAll(async () => {
    sqs?.destroy();
    await app?.close();
    await stack?.close();
  });

  async function provision(id: string, overrides: Record<string, unknown>): Promise<{ store: InMemoryClusterStore; provisioner: Provisioner }> {
    const store = new InMemoryClusterStore();
    const provisioner = new Provisioner({
      store,
      queue: { send: async () => undefined },
      backend,
      queues,
      generateSecrets: async (d) => testSecrets(d.clusterId),
      clock: systemClock,
      logger: silentLogger,
    });
    const spec = resolveSpec({ overrides });
    const record = newClusterRecord({ id, owner: 'arathe', at: new Date().toISOString(), spec, plan: planCluster(spec) });
    await store.create(record, initialChange(record, { actor: 'arathe' }));
    return { store, provisioner };
  }

  const clusterQueueNames = async (id: string): Promise<string[]> =>
    (await queues.list()).filter((q) => q.clusterId === id).map((q) => q.name).sort();

  it('creates the queues before the apply, puts the URL in the scheduler env and the record, and deletes them with the cluster', async () => {
    // Prepare
    const { store, provisioner } = await provision('qe-ok', { nWorkers: 2 });

    // Act: apply, then observe to RUNNING.
    await provisioner.handle({ clusterId: 'qe-ok', cause: 'created' });
    const set = await queues.describeClusterQueues('qe-ok');
    const running = await provisioner.handle({ clusterId: 'qe-ok', cause: 'requeue' });

    // Assess
    expect(set).toBeDefined();
    expect(await clusterQueueNames('qe-ok')).toEqual(['recc-eks-qe-ok-dlq.fifo', 'recc-eks-qe-ok-req.fifo']);
    const record = await store.get('qe-ok');
    expect(running).toMatchObject({ action: 'running', status: 'RUNNING' });
    expect(record?.connection).toMatchObject({
      requestQueueUrl: set?.requestQueueUrl,
      payloadBucket: 'recc-eks-payloads',
      payloadPrefix: `clusters/${record?.namespace}/payloads/`,
    });
    const { apps } = await stack.kube.apis();
    const deployment = await apps.readNamespacedDeployment({ name: OBJECT_NAMES.schedulerDeployment, namespace: record!.namespace });
    const env = Object.fromEntries((deployment.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(env[QUEUE_ENV.requestQueueUrl]).toBe(set?.requestQueueUrl);
    expect(env[QUEUE_ENV.deadLetterQueueUrl]).toBe(set?.deadLetterQueueUrl);
    expect(env[QUEUE_ENV.payloadPrefix]).toBe(`clusters/${record?.namespace}/payloads/`);
    // The namespace's service account is associated with the shared scheduler role (Pod Identity), tagged for cost.
    expect([...pods.associations.values()]).toEqual([
      expect.objectContaining({ namespace: record!.namespace, serviceAccount: 'recc-cluster', roleArn: SCHEDULER_ROLE, tags: expect.objectContaining({ user: 'arathe', cluster: 'qe-ok', namespace: record!.namespace }) }),
    ]);
    // The workers do not get the route.
    const workers = await apps.readNamespacedDeployment({ name: OBJECT_NAMES.workerDeployment, namespace: record!.namespace });
    expect((workers.spec?.template.spec?.containers[0]?.env ?? []).map((e) => e.name)).not.toContain(QUEUE_ENV.requestQueueUrl);

    // Act: a client session, then the user deletes the cluster.
    await queues.ensureSessionQueue('qe-ok', 's-1');
    const current = (await store.get('qe-ok'))!;
    const { next, change } = transition(current, 'DELETING', { actor: 'arathe', at: new Date().toISOString() });
    await store.put(next, current.version, change);
    let step = await provisioner.handle({ clusterId: 'qe-ok', cause: 'delete-requested' });
    for (let i = 0; i < 20 && step.status !== 'DELETED'; i++) step = await provisioner.handle({ clusterId: 'qe-ok', cause: 'requeue' });

    // Assess: the cluster and every queue of it are gone.
    expect(step.status).toBe('DELETED');
    expect(await backend.list()).toEqual([]);
    expect(await clusterQueueNames('qe-ok')).toEqual([]);
    expect(pods.associations.size).toBe(0);
  });

  it('removes the queues when the cluster fails (CrashLoopBackOff)', async () => {
    const image = 'registry.example.org/recc:crash-queues';
    stack.fake.kubelet.addRule({ match: { image }, failure: { kind: 'CrashLoopBackOff', log: 'ModuleNotFoundError: research_code\n', exitCode: 1 } });
    const { store, provisioner } = await provision('qe-fail', { image, nWorkers: 1 });
    await provisioner.handle({ clusterId: 'qe-fail', cause: 'created' });
    expect(await clusterQueueNames('qe-fail')).toHaveLength(2);
    const observed = await provisioner.handle({ clusterId: 'qe-fail', cause: 'requeue' });
    expect(observed).toMatchObject({ action: 'failed', status: 'FAILED' });
    expect((await store.get('qe-fail'))?.status).toBe('FAILED');
    expect(await clusterQueueNames('qe-fail')).toEqual([]);
    expect(pods.associations.size).toBe(0);
  });

  it('re-applying keeps one association per namespace (idempotent), and a teardown of nothing succeeds', async () => {
    const def = testDefinition({ clusterId: 'qe-twice', workers: 1 });
    await backend.apply(def, testSecrets(def.clusterId));
    await backend.apply(def, testSecrets(def.clusterId));
    expect([...pods.associations.values()].filter((a) => a.namespace === def.namespace)).toHaveLength(1);
    await backend.teardown('qe-twice');
    await backend.teardown('qe-twice');
    expect(pods.associations.size).toBe(0);
  });
});
