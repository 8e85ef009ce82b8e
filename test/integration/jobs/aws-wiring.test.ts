import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { generateClusterSecrets } from '../../../adapters/secrets/index.ts';
import { createTable, deleteTable } from '../../../adapters/store/dynamodb.ts';
import { DynamoDbJobStore } from '../../../adapters/store/jobs-dynamodb.ts';
import { harvesterDepsFromEnv } from '../../../functions/harvester-deps.ts';
import { runDriverFromEnv } from '../../../functions/job-runner-deps.ts';
import { makeHandler as jobRunnerHandler } from '../../../functions/job-runner.ts';
import { handleRunEvent, newRunRecord } from '../../../shared/jobs/run-machine.ts';
import { sampleJob } from '../../conformance/job-store.ts';
import { startDynalite, uniqueTableName } from '../../support/dynamodb.ts';
import { useDynamoDb } from '../../support/dynamodb-suite.ts';
import { FakeKubeApiServer } from '../../fakes/k8s-api-server.ts';
import { startTestS3, type TestS3 } from '../../support/s3.ts';

/**
 * Issue 13 #3 on AWS, not only on `recc up`: the harvester Lambda's
 * dependencies, built from its environment as at a cold start, reconcile
 * scheduled-job runs (a run whose cluster vanished, or stuck past its
 * deadline, becomes FAILED with a reason), and the jobRunner Lambda steps
 * runs on the same table. DynamoDB is dynalite, S3 is fauxqs, the EKS API is
 * the fake Kubernetes API server over HTTPS with its own CA; the endpoint and
 * CA come from the stage parameters, so no AWS call is made to build them.
 */
const dynamo = useDynamoDb(() => startDynalite());
let k8s: FakeKubeApiServer;
let s3: TestS3;
let CA = '';
beforeAll(async () => {
  const tls = await generateClusterSecrets({ clusterId: 'fake-eks-api' });
  CA = Buffer.from(tls.caCertPem).toString('base64');
  k8s = await FakeKubeApiServer.start({ tls: { certPem: tls.serverCertPem, keyPem: tls.serverKeyPem } });
  s3 = await startTestS3();
  await s3.createBucket('recc-ci-payloads-123456789012');
});
afterAll(async () => {
  await k8s?.close();
  await s3?.stop();
});

function lambdaEnv(tableName: string): Record<string, string> {
  return {
    TABLE_NAME: tableName,
    DYNAMODB_ENDPOINT: dynamo.emulator.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    QUEUE_URL: 'http://127.0.0.1:9/000000000000/recc-ci-provisioning',
    RECC_PAYLOAD_BUCKET: 'recc-ci-payloads-123456789012',
    RECC_EKS_CLUSTER_NAME: 'research',
    RECC_EKS_IMAGE: '123456789012.dkr.ecr.us-east-1.amazonaws.com/recc@sha256:' + 'ab'.repeat(32),
    RECC_EKS_ENDPOINT: k8s.url,
    S3_ENDPOINT: s3.endpoint,
    RECC_EKS_CA_DATA: CA,
    RECC_EKS_ALLOWED_CIDRS: '10.20.0.0/16',
    RECC_EKS_CONTROL_PLANE_CIDRS: '10.0.0.0/16',
    RECC_EKS_SUBNET_IDS: 'subnet-a',
    RECC_EKS_LAUNCH_TEMPLATE: 'recc-eks-node',
    RECC_EKS_USER_ROLE_ARN_TEMPLATE: 'arn:aws:iam::123456789012:role/recc-user-{owner}',
    RECC_CLUSTER_QUEUE_PREFIX: 'recc-ci-',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  };
}

describe('Feature: scheduled-job runs are reconciled and driven on AWS', () => {
  // The SDK's default credential chain reads the process environment (as in Lambda).
  beforeEach(() => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('the harvester Lambda, as built from its environment, fails a run whose cluster vanished and one stuck past its deadline', async () => {
    // Prepare
    const tableName = uniqueTableName('recc-aws-runs');
    await createTable(dynamo.client, tableName);
    try {
      const jobs = new DynamoDbJobStore(dynamo.client, { tableName });
      const t0 = Date.now() - 3 * 3_600_000;
      const job = await jobs.createJob(sampleJob('alice', 'nightly', t0));
      const policy = { deleteClusterOnSuccess: true, deleteClusterOnFailure: true, retryLimit: 0 };
      const at = new Date(t0).toISOString();
      const stored = [];
      for (const [i, deadline] of [[0, t0 + 3_600_000 * 10], [1, t0 + 60_000]] as const) {
        const { run, change } = newRunRecord({ id: `r-${job.id.slice(2)}-${i}`, jobId: job.id, jobName: job.name, owner: 'alice', scheduledAt: at, trigger: 'schedule', at, ttlDays: 1 }, { actor: 't', stimulusId: 's' });
        let current = (await jobs.createRun(run, change)).run;
        for (const event of [
          { type: 'start', stimulusId: 'start', preRunningDeadline: new Date(deadline).toISOString(), activeDeadline: new Date(deadline).toISOString() },
          { type: 'cluster-requested', stimulusId: 'c', clusterId: `c-gone-${i}` },
        ] as const) {
          const step = handleRunEvent(current, event, policy, { actor: 'run-driver', at });
          if (step.kind === 'ignored') throw new Error(step.why);
          current = await jobs.putRun(step.next, current.version, step.kind === 'changed' ? step.change : undefined);
        }
        stored.push(current);
      }
      const deps = await harvesterDepsFromEnv(lambdaEnv(tableName));

      // Act
      const failed = await deps.runs?.reconcile();

      // Assess
      expect(failed?.map((f) => f.runId).sort()).toEqual(stored.map((r) => r.id).sort());
      const vanished = await jobs.getRun(stored[0]?.id as string);
      expect(vanished).toMatchObject({ status: 'FAILED', statusReason: 'its cluster c-gone-0 vanished (reconciled by the harvester)' });
      expect((await jobs.getRun(stored[1]?.id as string))?.statusReason).toMatch(/^stuck in PROVISIONING past its deadline .* \(reconciled by the harvester\)$/);
      expect((await jobs.runHistory(stored[0]?.id as string)).at(-1)).toMatchObject({ to: 'FAILED', actor: 'harvester' });
      expect(await deps.runs?.reconcile()).toEqual([]);

      // …and the jobRunner Lambda finishes them: the outcome is kept, teardown owes nothing (no cluster is left), CLEANED.
      const runner = jobRunnerHandler(await runDriverFromEnv(lambdaEnv(tableName)));
      await runner({}, { awsRequestId: 'test' } as never);
      for (const r of stored) expect(await jobs.getRun(r.id)).toMatchObject({ status: 'CLEANED', outcome: 'FAILED' });
    } finally {
      await deleteTable(dynamo.client, tableName);
    }
  });
});
