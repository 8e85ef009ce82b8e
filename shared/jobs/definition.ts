import { z } from 'zod';
import type { ErrorDetail } from '../core/errors.ts';
import { SpecValidationError } from '../spec/errors.ts';
import { resolveSpec, type ResolveOptions } from '../spec/resolve.ts';
import { gitBranchSchema } from '../spec/schema.ts';
import type { ClusterSpec } from '../spec/types.ts';
import { JobValidationError } from './errors.ts';
import { parseSchedule, timezoneProblems, type ParsedSchedule } from './schedule.ts';
import { CATCH_UP_POLICIES, CONCURRENCY_POLICIES, type JobDefinitionInput } from './types.ts';

/**
 * The job definition schema (zod) and the one validation entry point,
 * `parseJobDefinition`, which also checks the schedule expression, the time
 * zone and the cluster spec (template + overrides through `resolveSpec`, the
 * cluster API's own validation). Every problem comes back at once as a
 * `JobValidationError` (400) with one detail per problem and its field path.
 */

/** Job names are DNS-label-like so they can go into cluster names, tags and schedule names. */
export const JOB_NAME = /^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$/;

const paramValue = z.union([z.string().max(4096), z.number(), z.boolean()], { error: 'a parameter value must be a string, a number or a boolean' });
const params = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a parameter name is letters, digits and _'), paramValue).default({});

const moduleEntry = z.strictObject({
  module: z
    .string({ error: 'entry.module must be a path such as examples/backfill-job.ts' })
    .min(1)
    .max(512)
    .refine((s) => !s.startsWith('/') && !s.split(/[\\/]/).includes('..'), 'must be a path inside the published source (no leading / and no ..)'),
  export: z.string().regex(/^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/, 'must be a JavaScript export name').optional(),
  params,
});
const commandEntry = z.strictObject({
  command: z.array(z.string().min(1).max(4096), { error: 'entry.command must be a list of strings' }).min(1, 'needs at least the program').max(256),
  params,
});

const seconds = (min: number, max: number, fallback: number) =>
  z
    .number({ error: `a whole number of seconds from ${min} to ${max}` })
    .int(`a whole number of seconds from ${min} to ${max}`)
    .min(min, `at least ${min} seconds`)
    .max(max, `at most ${max} seconds`)
    .default(fallback);

export const jobDefinitionSchema = z.strictObject({
  name: z.string({ error: 'a job name is required' }).regex(JOB_NAME, 'lowercase letters, digits and -, starting with a letter, at most 40 characters'),
  namespace: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a Kubernetes namespace name').optional(),
  schedule: z.string({ error: 'a schedule is required: cron(...), rate(...) or at(...)' }),
  timezone: z.string().default('UTC'),
  cluster: z
    .strictObject({
      template: z.string().min(1).max(512).optional(),
      overrides: z.record(z.string(), z.unknown()).default({}),
    })
    .default({ overrides: {} }),
  entry: z.union([moduleEntry, commandEntry], { error: 'entry needs either module (with optional export) or command, and optional params' }),
  sourceGitBranch: gitBranchSchema.optional(),
  timeouts: z
    .strictObject({
      preRunningSeconds: seconds(10, 6 * 3600, 900),
      activeSeconds: seconds(10, 7 * 86_400, 4 * 3600),
      idleSeconds: seconds(10, 7 * 86_400, 3600),
    })
    .default({ preRunningSeconds: 900, activeSeconds: 4 * 3600, idleSeconds: 3600 }),
  retries: z
    .strictObject({
      limit: z.number().int().min(0).max(10).default(0),
      backoffSeconds: seconds(1, 86_400, 60),
      maxBackoffSeconds: seconds(1, 86_400, 3600),
    })
    .default({ limit: 0, backoffSeconds: 60, maxBackoffSeconds: 3600 }),
  concurrency: z.enum(CONCURRENCY_POLICIES, { error: `one of ${CONCURRENCY_POLICIES.join(', ')}` }).default('Forbid'),
  catchUp: z.enum(CATCH_UP_POLICIES, { error: `one of ${CATCH_UP_POLICIES.join(', ')}` }).default('run-latest'),
  cleanup: z
    .strictObject({
      deleteClusterOnSuccess: z.boolean().default(true),
      deleteClusterOnFailure: z.boolean().default(true),
      runRecordTtlDays: z.number().int().min(1).max(3650).default(30),
    })
    .default({ deleteClusterOnSuccess: true, deleteClusterOnFailure: true, runRecordTtlDays: 30 }),
  enabled: z.boolean().default(true),
});

export interface ParsedJobDefinition {
  definition: JobDefinitionInput;
  schedule: ParsedSchedule;
  /** The run cluster's resolved spec (the job tag is added per run). */
  spec: ClusterSpec;
}

function pathOf(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}

/**
 * Validate a whole job definition. `fieldsToKeep` lets `update` merge a
 * partial body over the stored definition before calling this.
 * @throws JobValidationError with one detail per problem.
 */
export function parseJobDefinition(input: unknown, options: ResolveOptions = {}): ParsedJobDefinition {
  const parsed = jobDefinitionSchema.safeParse(input);
  const problems: ErrorDetail[] = [];
  if (!parsed.success) {
    const seen = new Set<string>();
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push({ path: pathOf([...issue.path, key]), message: 'unknown field' });
        continue;
      }
      const path = pathOf(issue.path);
      if (seen.has(path)) continue;
      seen.add(path);
      problems.push({ path, message: issue.message });
    }
  }
  const raw = (input !== null && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  const timezone = typeof raw.timezone === 'string' ? raw.timezone : 'UTC';
  const tzProblems = raw.timezone === undefined ? [] : timezoneProblems(raw.timezone);
  problems.push(...tzProblems.filter((p) => !problems.some((q) => q.path === p.path)));
  const { schedule, problems: scheduleProblems } =
    typeof raw.schedule === 'string' ? parseSchedule(raw.schedule, tzProblems.length ? 'UTC' : timezone) : { schedule: undefined, problems: [] };
  problems.push(...scheduleProblems);

  let spec: ClusterSpec | undefined;
  const cluster = parsed.success ? parsed.data.cluster : clusterPart(raw.cluster);
  if (cluster !== undefined) {
    try {
      spec = resolveSpec({ ...(cluster.template === undefined ? {} : { template: cluster.template }), overrides: cluster.overrides }, options);
    } catch (err) {
      if (!(err instanceof SpecValidationError)) throw err;
      for (const d of err.details) problems.push({ path: d.path ? `cluster.${d.path.startsWith('template') ? d.path : `overrides.${d.path}`}` : 'cluster', message: d.message });
    }
  }
  if (problems.length > 0 || !parsed.success || schedule === undefined || spec === undefined) {
    throw new JobValidationError(problems.length > 0 ? problems : [{ path: '', message: 'invalid job definition' }]);
  }
  const data = parsed.data;
  const definition: JobDefinitionInput = {
    name: data.name,
    schedule: schedule.expression,
    timezone: data.timezone,
    cluster: { ...(data.cluster.template === undefined ? {} : { template: data.cluster.template }), overrides: data.cluster.overrides },
    entry:
      'module' in data.entry
        ? { kind: 'module', module: data.entry.module, ...(data.entry.export === undefined ? {} : { export: data.entry.export }), params: data.entry.params }
        : { kind: 'command', command: data.entry.command, params: data.entry.params },
    timeouts: data.timeouts,
    retries: data.retries,
    concurrency: data.concurrency,
    catchUp: data.catchUp,
    cleanup: data.cleanup,
    enabled: data.enabled,
  };
  if (data.namespace !== undefined) definition.namespace = data.namespace;
  if (data.sourceGitBranch !== undefined) definition.sourceGitBranch = data.sourceGitBranch;
  return { definition, schedule, spec };
}

/** The cluster part of an otherwise invalid body, so its spec problems are reported too. */
function clusterPart(value: unknown): { template?: string; overrides: Record<string, unknown> } | undefined {
  if (value === undefined) return { overrides: {} };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  const overrides = v.overrides !== null && typeof v.overrides === 'object' && !Array.isArray(v.overrides) ? (v.overrides as Record<string, unknown>) : {};
  return { ...(typeof v.template === 'string' ? { template: v.template } : {}), overrides };
}

/** A definition back as the API body it came from (for update = merge + re-validate). */
export function definitionToInput(d: JobDefinitionInput): Record<string, unknown> {
  const entry =
    d.entry.kind === 'module'
      ? { module: d.entry.module, ...(d.entry.export === undefined ? {} : { export: d.entry.export }), params: d.entry.params }
      : { command: d.entry.command, params: d.entry.params };
  return {
    name: d.name,
    ...(d.namespace === undefined ? {} : { namespace: d.namespace }),
    schedule: d.schedule,
    timezone: d.timezone,
    cluster: d.cluster,
    entry,
    ...(d.sourceGitBranch === undefined ? {} : { sourceGitBranch: d.sourceGitBranch }),
    timeouts: d.timeouts,
    retries: d.retries,
    concurrency: d.concurrency,
    catchUp: d.catchUp,
    cleanup: d.cleanup,
    enabled: d.enabled,
  };
}
