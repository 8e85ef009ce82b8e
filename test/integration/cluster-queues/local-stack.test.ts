import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GetQueueAttributesCommand, GetQueueUrlCommand, ListQueueTagsCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../../local/stack.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../../local/sqs.ts';
import { QUEUE_ENV, QUEUE_TAGS } from '../../../shared/ports/cluster-queues.ts';
import { runCli } from '../../support/cli-run.ts';
import { api, killClusterProcesses, tempStateDir, waitForCluster } from '../../support/local-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * The provisioner creates a cluster's SQS queues with the cluster and removes
 * them with it, on the local stack with its real fauxqs and real scheduler
 * and worker processes: the record's connection carries the request queue
 * URL, the scheduler process gets it in its env, `recc cluster get` shows
 * both routes, and a delete leaves no queue behind (reply queues included).
 */
const small = { nWorkers: 1, workerCpu: 1, workerMemoryGiB: 0.5 };
const terminal = (c: { status: string }) => c.status === 'DELETED' || c.status === 'FAILED';

describe('Feature: per-cluster queues on the local stack', () => {
  let stack: LocalStack;
  let stateDir: string;
  let sqs: SQSClient;

  beforeAll(async () => {
    stateDir = tempStateDir('cluster-queues');
    stack = await startLocalStack({ port: 0, stateDir, processEnv: { PATH: process.env.PATH, HOME: process.env.HOME } });
    sqs = new SQSClient({ endpoint: stack.sqsEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  });

  afterAll(async () => {
    sqs?.destroy();
    await stack?.close({ teardownClusters: true });
    if (stateDir) {
      killClusterProcesses(stateDir);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  const queueNames = async (): Promise<string[]> => {
    const out = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'recc-' }));
    return (out.QueueUrls ?? []).map((u) => u.slice(u.lastIndexOf('/') + 1)).filter((n) => n !== 'recc-provisioning').sort();
  };

  it('creates the queues at create, shows both routes, and removes every queue at delete', async () => {
    // Act: create through the API and wait for RUNNING.
    const created = await api(stack.url, 'POST', '/clusters', { ...small, name: 'sqs-route', job: 'nightly' });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const id = created.body.cluster.id as string;
    const cluster = await waitForCluster(stack.url, id, (c) => c.status === 'RUNNING' || terminal(c), 'cluster RUNNING');
    expect(cluster.status, cluster.statusReason).toBe('RUNNING');

    // Assess: the queues exist, FIFO with a DLQ, tagged for cost.
    expect(await queueNames()).toEqual([`recc-${id}-dlq.fifo`, `recc-${id}-req.fifo`]);
    const requestUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: `recc-${id}-req.fifo` }))).QueueUrl!;
    expect(cluster.connection.requestQueueUrl).toBe(requestUrl);
    expect(cluster.connection.payloadBucket).toBe('recc-local-payloads');
    expect(cluster.connection.payloadPrefix).toBe(`clusters/${cluster.namespace}/payloads/`);
    const attrs = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: requestUrl, AttributeNames: ['All'] }))).Attributes ?? {};
    expect(attrs.FifoQueue).toBe('true');
    expect(JSON.parse(attrs.RedrivePolicy ?? '{}').deadLetterTargetArn).toMatch(new RegExp(`recc-${id}-dlq\\.fifo$`));
    const tags = (await sqs.send(new ListQueueTagsCommand({ QueueUrl: requestUrl }))).Tags ?? {};
    expect(tags).toMatchObject({ [QUEUE_TAGS.user]: stack.user.replace(/[^\p{L}\p{N} _.:/=+\-@]/gu, '_'), [QUEUE_TAGS.cluster]: id, [QUEUE_TAGS.namespace]: cluster.namespace, [QUEUE_TAGS.job]: 'nightly' });

    // The scheduler process was started with its queue coordinates.
    const state = JSON.parse(readFileSync(join(stateDir, 'clusters', id, 'state.json'), 'utf8')) as { processes: Array<{ pid: number; component: string }> };
    const schedulerPid = state.processes.find((p) => p.component === 'scheduler')?.pid as number;
    const environ = readFileSync(`/proc/${schedulerPid}/environ`, 'utf8').split('\0');
    expect(environ).toContain(`${QUEUE_ENV.requestQueueUrl}=${requestUrl}`);
    expect(environ).toContain(`${QUEUE_ENV.sqsEndpoint}=${stack.sqsEndpoint}`);
    expect(environ).toContain(`${QUEUE_ENV.payloadPrefix}=clusters/${cluster.namespace}/payloads/`);

    // `recc cluster get` shows both routes, in human and --json output.
    const env = { PATH: process.env.PATH ?? '', HOME: stateDir };
    const human = await runCli(['cluster', 'get', id, '--api', stack.url], { env });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`scheduler \\(tcp\\)\\s+${cluster.connection.schedulerAddress.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expect(human.stdout).toMatch(new RegExp(`request queue \\(sqs\\)\\s+${requestUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const json = await runCli(['cluster', 'get', id, '--json', '--api', stack.url], { env });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).data.connection).toMatchObject({ schedulerAddress: cluster.connection.schedulerAddress, requestQueueUrl: requestUrl });

    // A client session's reply queue (as the SQS transport makes on connect).
    const session = await stack.clusterQueues.ensureSessionQueue(id, 's-local-1');
    expect(await queueNames()).toContain(`recc-${id}-reply-s-local-1`);
    // …tagged for cost like the request queue.
    const replyTags = (await sqs.send(new ListQueueTagsCommand({ QueueUrl: session.url }))).Tags ?? {};
    expect(replyTags).toMatchObject({ [QUEUE_TAGS.user]: tags[QUEUE_TAGS.user], [QUEUE_TAGS.namespace]: cluster.namespace, [QUEUE_TAGS.cluster]: id, [QUEUE_TAGS.job]: 'nightly', [QUEUE_TAGS.managedBy]: 'recc' });

    // Act: delete the cluster.
    await api(stack.url, 'DELETE', `/clusters/${id}`);
    const deleted = await waitForCluster(stack.url, id, terminal, 'cluster DELETED');

    // Assess: no queue of the cluster is left.
    expect(deleted.status).toBe('DELETED');
    await waitFor(async () => (await queueNames()).length === 0, { what: 'the cluster queues to be gone', timeoutMs: 30_000 });
  }, 180_000);

  it('gives a cluster that survives a restart of the stack its queues back, at the same URL', async () => {
    // Prepare: a RUNNING cluster.
    const id = (await api(stack.url, 'POST', '/clusters', { ...small, name: 'survivor' })).body.cluster.id as string;
    const before = await waitForCluster(stack.url, id, (c) => c.status === 'RUNNING' || terminal(c), 'cluster RUNNING');
    expect(before.status, before.statusReason).toBe('RUNNING');

    // Act: stop the stack (fauxqs and its in-memory queues go; the cluster processes stay) and start it again.
    sqs.destroy();
    await stack.close();
    stack = await startLocalStack({ port: 0, stateDir, processEnv: { PATH: process.env.PATH, HOME: process.env.HOME } });
    sqs = new SQSClient({ endpoint: stack.sqsEndpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });

    // Assess
    expect(stack.reconcile.keptRunning).toContain(id);
    const after = await waitForCluster(stack.url, id, () => true, 'cluster listed');
    expect(after.status).toBe('RUNNING');
    expect(await queueNames()).toEqual([`recc-${id}-dlq.fifo`, `recc-${id}-req.fifo`]);
    expect((await sqs.send(new GetQueueUrlCommand({ QueueName: `recc-${id}-req.fifo` }))).QueueUrl).toBe(before.connection.requestQueueUrl);

    await api(stack.url, 'DELETE', `/clusters/${id}`);
    await waitForCluster(stack.url, id, terminal, 'cluster DELETED');
    await waitFor(async () => (await queueNames()).length === 0, { what: 'the cluster queues to be gone', timeoutMs: 30_000 });
  }, 180_000);
});
