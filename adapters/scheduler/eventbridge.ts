import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  UpdateScheduleCommand,
  type CreateScheduleCommandInput,
} from '@aws-sdk/client-scheduler';
import { ConfigError } from '../../shared/core/errors.ts';
import type { JobRecord } from '../../shared/jobs/types.ts';
import type { JobScheduler } from '../../shared/ports/job-scheduler.ts';
import { scheduleNameFor } from '../../shared/ports/job-scheduler.ts';
import { SchedulerCallError } from './errors.ts';

/**
 * JobScheduler on EventBridge Scheduler: one schedule per job in the recc
 * schedule group, in the job's time zone, targeting the job-starter Lambda
 * through the scheduler role, with a retry policy and an SQS dead-letter
 * queue. The target input carries the job id and EventBridge's scheduled
 * time, from which the run id is derived, so a retried delivery starts the
 * same run.
 */
export interface EventBridgeSchedulerConfig {
  groupName: string;
  /** ARN of the job-starter Lambda. */
  targetArn: string;
  /** Role EventBridge Scheduler assumes to invoke the target (the only role the API may pass). */
  roleArn: string;
  /** SQS queue for deliveries that exhausted their retries. */
  deadLetterArn: string;
  /** @default 3 */
  maximumRetryAttempts?: number;
  /** @default 3600 */
  maximumEventAgeSeconds?: number;
}

export class EventBridgeJobScheduler implements JobScheduler {
  private readonly config: Required<EventBridgeSchedulerConfig>;

  constructor(
    private readonly client: SchedulerClient,
    config: EventBridgeSchedulerConfig,
  ) {
    const problems = (['groupName', 'targetArn', 'roleArn', 'deadLetterArn'] as const)
      .filter((k) => typeof config[k] !== 'string' || config[k].trim() === '')
      .map((k) => ({ path: k, message: 'is required' }));
    if (problems.length > 0) throw new ConfigError('invalid EventBridge Scheduler configuration', problems);
    this.config = { maximumRetryAttempts: 3, maximumEventAgeSeconds: 3600, ...config };
  }

  /** The exact CreateSchedule input for a job (UpdateSchedule takes the same fields). */
  scheduleInput(job: JobRecord): CreateScheduleCommandInput {
    return {
      Name: scheduleNameFor(job.id),
      GroupName: this.config.groupName,
      Description: `recc job ${job.owner}/${job.name}`.slice(0, 512),
      ScheduleExpression: job.schedule,
      ScheduleExpressionTimezone: job.timezone,
      State: job.enabled ? 'ENABLED' : 'DISABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      // An at() job keeps its definition (and its runs) after the fire; the schedule stays until the job is deleted.
      ActionAfterCompletion: 'NONE',
      Target: {
        Arn: this.config.targetArn,
        RoleArn: this.config.roleArn,
        Input: JSON.stringify({ jobId: job.id, scheduledTime: '<aws.scheduler.scheduled-time>' }),
        RetryPolicy: { MaximumRetryAttempts: this.config.maximumRetryAttempts, MaximumEventAgeInSeconds: this.config.maximumEventAgeSeconds },
        DeadLetterConfig: { Arn: this.config.deadLetterArn },
      },
      // Idempotent per job version: a retried create of the same version is a no-op for EventBridge.
      ClientToken: `${job.id}-v${job.version}`,
    };
  }

  async create(job: JobRecord): Promise<void> {
    try {
      await this.client.send(new CreateScheduleCommand(this.scheduleInput(job)));
    } catch (err) {
      // Already there (a retried create after a lost answer): make it match.
      if (isNamed(err, ConflictException, 'ConflictException')) return this.update(job);
      throw wrap('CreateSchedule', job.id, err);
    }
  }

  async update(job: JobRecord): Promise<void> {
    try {
      await this.client.send(new UpdateScheduleCommand(this.scheduleInput(job)));
    } catch (err) {
      // Gone (deleted out of band): recreate it, so the definition and its schedule agree again.
      if (isNamed(err, ResourceNotFoundException, 'ResourceNotFoundException')) {
        try {
          await this.client.send(new CreateScheduleCommand(this.scheduleInput(job)));
          return;
        } catch (again) {
          throw wrap('CreateSchedule', job.id, again);
        }
      }
      throw wrap('UpdateSchedule', job.id, err);
    }
  }

  async delete(job: Pick<JobRecord, 'id'>): Promise<void> {
    try {
      await this.client.send(new DeleteScheduleCommand({ Name: scheduleNameFor(job.id), GroupName: this.config.groupName }));
    } catch (err) {
      if (isNamed(err, ResourceNotFoundException, 'ResourceNotFoundException')) return;
      throw wrap('DeleteSchedule', job.id, err);
    }
  }
}

function isNamed(err: unknown, cls: abstract new (...args: never[]) => unknown, name: string): boolean {
  return err instanceof cls || (err as { name?: string } | undefined)?.name === name;
}

function wrap(op: string, jobId: string, err: unknown): SchedulerCallError {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return new SchedulerCallError(`${op} for job ${jobId} failed: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, {
    cause: err,
    statusCode: status !== undefined && status >= 500 ? 503 : 502,
  });
}
