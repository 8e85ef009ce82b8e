import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { z, type ZodType } from 'zod';
import { EventBridgeJobScheduler } from '../adapters/scheduler/eventbridge.ts';
import { DynamoDbJobStore } from '../adapters/store/jobs-dynamodb.ts';
import { JobService } from '../control/jobs.ts';
import { systemClock } from '../shared/core/clock.ts';
import { ConfigError } from '../shared/core/errors.ts';
import { getOptionalString, type Env } from '../shared/core/env.ts';
import { JOB_NAME } from '../shared/jobs/definition.ts';
import { runLogStoreFromEnv } from '../adapters/jobs/run-logs-s3.ts';
import { apiHandler, type ApiDeps, type HttpResult, type RouteContext } from './commons/api.ts';
import { apiDepsFromEnv, findTemplatesDir } from './commons/deps.ts';
import { readApiConfig } from './commons/config.ts';
import { pageQuery } from './commons/schemas.ts';

/**
 * Shared pieces of the job API functions (`functions/job-*.ts`): the
 * JobService in the deps (the local stack passes its own; Lambda builds one
 * from the environment), path and query schemas, and `jobHandler`, which is
 * `apiHandler` with the JobService at hand. Same middleware, same error
 * shape, same owner-or-admin rule as the cluster API.
 */
export interface JobApiDeps extends ApiDeps {
  jobService?: JobService;
}

export const jobNameParams = z.strictObject({ name: z.string().regex(JOB_NAME, 'is not a job name') });
export const runIdParams = z.strictObject({ id: z.string().regex(/^r-[a-z0-9-]{1,100}$/, 'is not a run id') });
/** `?owner=` lets an admin address another user's job by name. */
export const ownerQuery = z.strictObject({ owner: z.string().min(1).max(256).optional() });
export const listJobsQuery = z.strictObject({ all: z.enum(['true', 'false']).optional(), ...pageQuery });
export const runsQuery = z.strictObject({ owner: z.string().min(1).max(256).optional(), ...pageQuery });

export function jobHandler<B = undefined, Q = undefined, P = undefined>(
  deps: JobApiDeps,
  spec: { name: string; body?: ZodType<B>; query?: ZodType<Q>; path?: ZodType<P> },
  run: (ctx: RouteContext<B, Q, P> & { jobs: JobService }) => Promise<HttpResult>,
) {
  return apiHandler(deps, spec, async (ctx) => {
    if (deps.jobService === undefined) throw new ConfigError('scheduled jobs are not configured in this deployment');
    return run({ ...ctx, jobs: deps.jobService });
  });
}

/** Lambda: the API deps plus a JobService on the cluster table and EventBridge Scheduler. */
export function jobApiDepsFromEnv(env: Env = process.env): JobApiDeps {
  const api = apiDepsFromEnv(env);
  const config = readApiConfig(env);
  const need = (name: string): string => {
    const value = getOptionalString(env, name);
    if (!value) throw new ConfigError(`${name} is not set`, [{ path: name, message: 'is required for scheduled jobs' }]);
    return value;
  };
  const dynamo = new DynamoDBClient({ region: config.region, ...(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint } : {}) });
  const doc = DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } });
  const scheduler = new EventBridgeJobScheduler(new SchedulerClient({ region: config.region }), {
    groupName: need('RECC_JOB_SCHEDULE_GROUP'),
    targetArn: need('RECC_JOB_STARTER_ARN'),
    roleArn: need('RECC_JOB_SCHEDULER_ROLE_ARN'),
    deadLetterArn: need('RECC_JOB_DLQ_ARN'),
  });
  const templatesDir = findTemplatesDir(env);
  const logs = runLogStoreFromEnv(env, config.region);
  const jobService = new JobService({
    jobs: new DynamoDbJobStore(doc, { tableName: config.tableName }),
    scheduler,
    // Driver logs are copied to the payload bucket before the run's cluster is deleted (adapters/eks/job-driver.ts).
    driver: { readLogs: (runId) => logs.get(runId) },
    clock: systemClock,
    ...(api.logger ? { logger: api.logger } : {}),
    ...(templatesDir ? { templatesDir } : {}),
  });
  return { ...api, jobService };
}
