import type { ProvisionMessage } from '../../shared/ports/work-queue.ts';
import { MalformedQueueMessageError } from './errors.ts';

/** The wire form of a provisioning message: a JSON object `{clusterId, cause}`. */
export function encodeProvisionMessage(message: ProvisionMessage): string {
  return JSON.stringify({ clusterId: message.clusterId, cause: message.cause });
}

/** Parse a message body (SQS `Body` or a Lambda SQS record `body`). */
export function decodeProvisionMessage(body: string | undefined, messageId?: string): ProvisionMessage {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body ?? '');
  } catch (err) {
    throw new MalformedQueueMessageError(messageId, 'body is not JSON', { cause: err });
  }
  if (!parsed || typeof parsed !== 'object') throw new MalformedQueueMessageError(messageId, 'body is not an object');
  const { clusterId, cause } = parsed as Record<string, unknown>;
  if (typeof clusterId !== 'string' || !clusterId) throw new MalformedQueueMessageError(messageId, 'clusterId is missing');
  return { clusterId, cause: typeof cause === 'string' ? cause : 'unknown' };
}
