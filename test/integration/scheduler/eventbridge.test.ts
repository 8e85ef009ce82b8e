import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';
import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  UpdateScheduleCommand,
  ValidationException,
  type SchedulerClientResolvedConfig,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-scheduler';
import { EventBridgeJobScheduler } from '../../../adapters/scheduler/eventbridge.ts';
import { SchedulerCallError } from '../../../adapters/scheduler/errors.ts';
import { ConfigError } from '../../../shared/core/errors.ts';
import { sampleJob } from '../../conformance/job-store.ts';

const CONFIG = {
  groupName: 'recc-jobs-dev',
  targetArn: 'arn:aws:lambda:eu-west-1:123456789012:function:recc-dev-jobStarter',
  roleArn: 'arn:aws:iam::123456789012:role/recc-dev-scheduler',
  deadLetterArn: 'arn:aws:sqs:eu-west-1:123456789012:recc-dev-job-dlq',
};

describe('EventBridgeJobScheduler (contract, aws-sdk-client-mock)', () => {
  let mock: AwsStub<ServiceInputTypes, ServiceOutputTypes, SchedulerClientResolvedConfig>;
  let scheduler: EventBridgeJobScheduler;
  const job = { ...sampleJob('alice', 'nightly'), schedule: 'cron(30 2 ? * 2-6 *)', timezone: 'Europe/London', version: 3 };
  const expected = {
    Name: `recc-${job.id}`,
    GroupName: 'recc-jobs-dev',
    Description: 'recc job alice/nightly',
    ScheduleExpression: 'cron(30 2 ? * 2-6 *)',
    ScheduleExpressionTimezone: 'Europe/London',
    State: 'ENABLED',
    FlexibleTimeWindow: { Mode: 'OFF' },
    ActionAfterCompletion: 'NONE',
    Target: {
      Arn: CONFIG.targetArn,
      RoleArn: CONFIG.roleArn,
      Input: JSON.stringify({ jobId: job.id, scheduledTime: '<aws.scheduler.scheduled-time>' }),
      RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
      DeadLetterConfig: { Arn: CONFIG.deadLetterArn },
    },
    ClientToken: `${job.id}-v3`,
  };

  beforeEach(() => {
    mock = mockClient(SchedulerClient);
    scheduler = new EventBridgeJobScheduler(new SchedulerClient({ region: 'eu-west-1' }), CONFIG);
  });
  afterEach(() => mock.restore());

  it('creates the schedule with the exact target, role, retry policy, DLQ, time zone and group', async () => {
    mock.on(CreateScheduleCommand).resolves({ ScheduleArn: 'arn:x' });
    await scheduler.create(job);
    expect(mock.commandCalls(CreateScheduleCommand).map((c) => c.args[0].input)).toEqual([expected]);
  });

  it('updates with the same full input, and a disabled job is DISABLED', async () => {
    mock.on(UpdateScheduleCommand).resolves({ ScheduleArn: 'arn:x' });
    await scheduler.update({ ...job, enabled: false, version: 4 });
    expect(mock.commandCalls(UpdateScheduleCommand).map((c) => c.args[0].input)).toEqual([{ ...expected, State: 'DISABLED', ClientToken: `${job.id}-v4` }]);
  });

  it('deletes by name and group; a missing schedule is success', async () => {
    mock.on(DeleteScheduleCommand).rejects(new ResourceNotFoundException({ message: 'nope', Message: 'nope', $metadata: {} }));
    await scheduler.delete(job);
    expect(mock.commandCalls(DeleteScheduleCommand).map((c) => c.args[0].input)).toEqual([{ Name: `recc-${job.id}`, GroupName: 'recc-jobs-dev' }]);
  });

  it('turns a create conflict into an update, and an update of a vanished schedule into a create', async () => {
    mock.on(CreateScheduleCommand).rejectsOnce(new ConflictException({ message: 'exists', Message: 'exists', $metadata: {} })).resolves({ ScheduleArn: 'a' });
    mock.on(UpdateScheduleCommand).resolves({ ScheduleArn: 'a' });
    await scheduler.create(job);
    expect(mock.commandCalls(UpdateScheduleCommand)).toHaveLength(1);
    mock.reset();
    mock.on(UpdateScheduleCommand).rejects(new ResourceNotFoundException({ message: 'gone', Message: 'gone', $metadata: {} }));
    mock.on(CreateScheduleCommand).resolves({ ScheduleArn: 'a' });
    await scheduler.update(job);
    expect(mock.commandCalls(CreateScheduleCommand).map((c) => c.args[0].input)).toEqual([expected]);
  });

  it('wraps other failures in SchedulerCallError naming the call and the job', async () => {
    mock.on(CreateScheduleCommand).rejects(new ValidationException({ message: 'bad expression', Message: 'bad expression', $metadata: { httpStatusCode: 400 } }));
    const err = await scheduler.create(job).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchedulerCallError);
    expect((err as Error).message).toBe(`CreateSchedule for job ${job.id} failed: ValidationException: bad expression`);
  });

  it('refuses a configuration without target, role or DLQ', () => {
    expect(() => new EventBridgeJobScheduler(new SchedulerClient({}), { ...CONFIG, roleArn: '', deadLetterArn: ' ' })).toThrow(ConfigError);
  });
});
