import middy from '@middy/core';
import type { Context, SQSEvent } from 'aws-lambda';
import { decodeProvisionMessage } from '../adapters/queue/message.ts';
import type { Provisioner, StepResult } from '../control/provisioner.ts';
import type { Logger } from '../shared/core/logger.ts';
import { ProvisionerStepFailedError } from './commons/errors.ts';
import { lazyHandler } from './commons/lazy.ts';

export { ProvisionerStepFailedError };

/**
 * The provisioner function, triggered by the provisioning SQS queue (batch
 * size 1): each message advances one cluster by one step
 * (`control/provisioner.ts`). A step that fails throws, so SQS redelivers the
 * message after its visibility timeout and, after the redrive limit, moves it
 * to the dead-letter queue. Waiting is a delayed message sent by the step,
 * never a sleep here.
 */
export interface ProvisionerHandlerDeps {
  provisioner: Provisioner;
  logger: Logger;
}

export function makeHandler(deps: ProvisionerHandlerDeps) {
  return middy(async (event: SQSEvent, context: Context): Promise<{ results: StepResult[] }> => {
    const log = deps.logger.child({ requestId: context.awsRequestId });
    const results: StepResult[] = [];
    const failed: string[] = [];
    let firstError: unknown;
    for (const record of event.Records ?? []) {
      try {
        const message = decodeProvisionMessage(record.body, record.messageId);
        results.push(await deps.provisioner.handle(message));
      } catch (err) {
        log.error('provisioner: step failed', { messageId: record.messageId, error: err });
        failed.push(record.messageId);
        firstError ??= err;
      }
    }
    if (failed.length > 0) throw new ProvisionerStepFailedError(failed, { cause: firstError });
    return { results };
  });
}

/** The Lambda entry point; dependencies are built once per cold start from the environment (`./provisioner-deps.ts`). */
export const handler = lazyHandler(async () => {
  const { provisionerDepsFromEnv } = await import('./provisioner-deps.ts');
  return makeHandler(await provisionerDepsFromEnv(process.env));
});
