import type { Context, SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { ProvisionerStepFailedError, makeHandler } from '../../../functions/provisioner.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { addRequested, provisionerWorld } from '../../support/provisioner-world.ts';

const context = { awsRequestId: 'req-1' } as Context;

function sqsEvent(bodies: string[]): SQSEvent {
  return {
    Records: bodies.map((body, i) => ({
      messageId: `m-${i}`,
      receiptHandle: `r-${i}`,
      body,
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: '0', SenderId: 'x', ApproximateFirstReceiveTimestamp: '0' },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:recc-provisioning',
      awsRegion: 'us-east-1',
    })),
  };
}

async function setup() {
  const w = provisionerWorld();
  await addRequested(w);
  return { ...w, handler: makeHandler({ provisioner: w.provisioner, logger: silentLogger }) };
}

describe('Function: provisioner handler', () => {
  it('advances the cluster named in the message by one step and re-queues instead of waiting', async () => {
    // Prepare
    const w = await setup();

    // Act
    const out = await w.handler(sqsEvent([JSON.stringify({ clusterId: 'c-000001', cause: 'created' })]), context);

    // Assess
    expect(out.results).toEqual([{ clusterId: 'c-000001', action: 'applied', status: 'PROVISIONING', requeueAfterSeconds: 5 }]);
    expect((await w.store.get('c-000001'))?.status).toBe('PROVISIONING');
    expect(w.queue.messages).toEqual([{ clusterId: 'c-000001', cause: 'requeue' }]);
  });

  it('throws so SQS redelivers when the body is malformed or the backend is down', async () => {
    // Prepare
    const w = await setup();
    w.backend.unavailable = true;

    // Act
    const malformed = w.handler(sqsEvent(['not json']), context);
    const down = w.handler(sqsEvent([JSON.stringify({ clusterId: 'c-000001', cause: 'created' })]), context);

    // Assess
    await expect(malformed).rejects.toBeInstanceOf(ProvisionerStepFailedError);
    await expect(down).rejects.toMatchObject({ failedMessageIds: ['m-0'] });
  });
});
