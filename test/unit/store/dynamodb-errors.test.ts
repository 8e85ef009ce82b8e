import { ConditionalCheckFailedException, ThrottlingException, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { dynamoCall } from '../../../adapters/store/dynamodb-errors.ts';
import { ClusterStoreError } from '../../../adapters/store/errors.ts';
import { BackendUnavailableError, ClusterNotFoundError } from '../../../shared/ports/errors.ts';

/** The one mapping of DynamoDB failures that the cluster store and the job store share. */
describe('Function: dynamoCall', () => {
  const failWith = (err: unknown) => dynamoCall('job store', 'getJob', () => Promise.reject(err));
  const meta = { $metadata: {} };

  it('turns outages into a 503 the caller may retry, naming the store and the operation', async () => {
    const outages: unknown[] = [
      new ThrottlingException({ message: 'slow down', ...meta }),
      new ProvisionedThroughputExceededException({ message: 'over capacity', ...meta }),
      Object.assign(new Error('service unavailable'), { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('socket timed out'), { name: 'TimeoutError' }),
    ];
    for (const err of outages) {
      const got = await failWith(err).catch((e: unknown) => e);
      expect(got).toBeInstanceOf(BackendUnavailableError);
      expect((got as BackendUnavailableError).statusCode).toBe(503);
      expect((got as Error).message).toMatch(/^job store unavailable during getJob: /);
    }
  });

  it('passes domain errors through and makes anything else a 500 ClusterStoreError', async () => {
    const domain = new ClusterNotFoundError('c-1');
    expect(await failWith(domain).catch((e: unknown) => e)).toBe(domain);
    const validation = Object.assign(new Error('One or more parameter values were invalid'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
    const got = await failWith(validation).catch((e: unknown) => e);
    expect(got).toBeInstanceOf(ClusterStoreError);
    expect((got as Error).message).toBe('job store getJob failed: ValidationException: One or more parameter values were invalid');
    // A failed condition is not an outage either: the stores handle it before this mapping, so here it is a plain 500.
    expect(await failWith(new ConditionalCheckFailedException({ message: 'no', ...meta })).catch((e: unknown) => e)).toBeInstanceOf(ClusterStoreError);
    expect(await dynamoCall('cluster store', 'get', () => Promise.resolve(42))).toBe(42);
  });
});
