import {
  InternalServerError,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import { ReccError } from '../../shared/core/errors.ts';
import { BackendUnavailableError } from '../../shared/ports/errors.ts';
import { ClusterStoreError } from './errors.ts';

/**
 * The one mapping of DynamoDB SDK failures for every store on the table
 * (clusters, jobs): domain errors pass through; an outage (throttling,
 * a 5xx, a socket error, the HTTP handler's timeout) becomes a 503
 * BackendUnavailableError the caller may retry; anything else is a logged
 * 500 (ClusterStoreError). The classes are the ones @aws-sdk/client-dynamodb
 * throws, which lib-dynamodb's document client rethrows, so `instanceof` holds.
 */
const TRANSIENT_EXCEPTIONS = [ProvisionedThroughputExceededException, ThrottlingException, RequestLimitExceeded, InternalServerError] as const;

export function isDynamoOutage(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; code?: string };
  const status = e.$metadata?.httpStatusCode;
  // Socket failures carry a Node errno code (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, EAI_AGAIN, …).
  const network = typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code);
  const transient = TRANSIENT_EXCEPTIONS.some((type) => err instanceof type);
  // The HTTP handler's own timeout is a plain Error named TimeoutError (no class to test for).
  const timedOut = e.name === 'TimeoutError';
  return transient || timedOut || (status !== undefined && status >= 500) || network;
}

/** Runs one store call, mapping its failure as above; `store` names the store in the message ("cluster store", "job store"). */
export async function dynamoCall<T>(store: string, op: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ReccError) throw err;
    const e = err as { name?: string; message?: string };
    if (isDynamoOutage(err)) throw new BackendUnavailableError(`${store} unavailable during ${op}: ${e.message ?? String(err)}`, { cause: err });
    throw new ClusterStoreError(`${store} ${op} failed: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, { cause: err });
  }
}
