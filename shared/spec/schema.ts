import { distance } from 'fastest-levenshtein';
import { z } from 'zod';
import type { ErrorDetail } from '../core/errors.ts';
import { isKnownInstanceType, nearestInstanceTypes } from '../catalog/instances.ts';
import type { ClusterSpec, ClusterSpecInput } from './types.ts';

/**
 * Zod schemas for cluster specs: the single source of truth for field-level
 * validation. Every message is plain language and names what was received, so
 * a researcher can fix the input without reading code. Cross-field checks
 * (does the worker fit the instance, GPUs on a GPU type) live in `resolve.ts`.
 */

/** Most workers one cluster may ask for (a guard against typos such as 20000). */
export const MAX_WORKERS = 5000;
/** Longest lifetime a spec may ask for: one week. */
export const MAX_LIFETIME_HOURS = 168;

export const SPEC_FIELDS = [
  'instanceType',
  'nWorkers',
  'workerCpu',
  'workerMemoryGiB',
  'schedulerCpu',
  'schedulerMemoryGiB',
  'resources',
  'image',
  'sourceGitBranch',
  'env',
  'idleTimeoutMinutes',
  'maxLifetimeHours',
  'name',
  'job',
  'tags',
] as const satisfies readonly (keyof ClusterSpec)[];

/** Resource names that mean "GPUs per worker"; they must fit the instance's GPUs. */
export const GPU_RESOURCE_NAMES = ['GPU', 'gpu', 'GPUs', 'gpus', 'nvidia.com/gpu'] as const;

export function isGpuResource(name: string): boolean {
  return (GPU_RESOURCE_NAMES as readonly string[]).includes(name);
}

/** Render a received value for a message: numbers and strings as written. */
export function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

const got = (iss: { input?: unknown }) => ` (got ${show(iss.input)})`;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export const positiveWholeNumber = (max = Number.MAX_SAFE_INTEGER) =>
  z.custom<number>((v) => isNum(v) && Number.isInteger(v) && v > 0 && v <= max, {
    error: (iss) =>
      isNum(iss.input) && Number.isInteger(iss.input) && iss.input > max
        ? `must be at most ${max}${got(iss)}`
        : `must be a positive whole number${got(iss)}`,
  });

export const positiveNumber = (max = Number.MAX_VALUE) =>
  z.custom<number>((v) => isNum(v) && v > 0 && v <= max, {
    error: (iss) => (isNum(iss.input) && iss.input > max ? `must be at most ${max}${got(iss)}` : `must be a positive number${got(iss)}`),
  });

const text = (what: string, pattern: RegExp, max: number) =>
  z.custom<string>((v) => typeof v === 'string' && v.length <= max && pattern.test(v), {
    error: (iss) =>
      typeof iss.input !== 'string'
        ? `must be a string${got(iss)}`
        : iss.input.length > max
          ? `must be at most ${max} characters (got ${iss.input.length})`
          : `must be ${what}${got(iss)}`,
  });

export const instanceTypeSchema = z.custom<string>((v) => typeof v === 'string' && isKnownInstanceType(v), {
  error: (iss) =>
    typeof iss.input !== 'string'
      ? `must be an instance type name such as "c5.xlarge"${got(iss)}`
      : `unknown instance type ${show(iss.input)}; nearest: ${nearestInstanceTypes(iss.input).join(', ')}`,
});

/** A DNS label (Kubernetes namespaces and service names are built from it). */
export const clusterNameSchema = text(
  'lowercase letters, digits and "-", starting with a letter and not ending with "-"',
  /^[a-z]([a-z0-9-]*[a-z0-9])?$/,
  40,
);

/** Container image reference: no spaces, e.g. `recc:latest` or `123.dkr.ecr.us-east-1.amazonaws.com/recc:1.2`. */
export const imageSchema = text('a container image reference without spaces, such as "recc:latest"', /^[A-Za-z0-9][^\s]*$/, 512);

/** A git branch name (git check-ref-format rules, simplified). */
export const gitBranchSchema = z.custom<string>(
  (v) =>
    typeof v === 'string' &&
    v.length > 0 &&
    v.length <= 255 &&
    !/[\s~^:?*[\\]/.test(v) &&
    ![...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f) &&
    !v.includes('..') &&
    !v.includes('@{') &&
    !v.startsWith('-') &&
    !v.startsWith('/') &&
    !v.endsWith('/') &&
    !v.endsWith('.') &&
    !v.endsWith('.lock'),
  {
    error: (iss) =>
      typeof iss.input !== 'string' ? `must be a string${got(iss)}` : `must be a valid git branch name${got(iss)}`,
  },
);

export const jobSchema = text('a non-empty label without line breaks', /^[^\r\n]+$/, 128);

const resourceName = /^[A-Za-z][A-Za-z0-9_.\-/]*$/;
export const resourcesSchema = z
  .record(
    z.string().regex(resourceName, { error: 'resource names start with a letter and use letters, digits, "_", ".", "-" or "/"' }),
    positiveNumber(),
    { error: (iss) => `must be a mapping of resource name to amount, such as {GPU: 1}${got(iss)}` },
  )
  .superRefine((r, ctx) => {
    for (const [k, v] of Object.entries(r)) {
      if (isGpuResource(k) && !Number.isInteger(v)) {
        ctx.addIssue({ code: 'custom', path: [k], message: `GPUs per worker must be a whole number (got ${v})` });
      }
    }
  });

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const envSchema = z.record(
  z.string().regex(envName, { error: 'environment variable names use letters, digits and "_" and do not start with a digit' }),
  z.string({ error: (iss) => `must be a string; quote numbers and booleans${got(iss)}` }),
  { error: (iss) => `must be a mapping of variable name to string value${got(iss)}` },
);

/** AWS tag limits: keys up to 128 characters, values up to 256; `aws:` is reserved. */
export const tagsSchema = z.record(
  z.string().min(1, { error: 'tag keys must not be empty' }).max(128, { error: 'tag keys are at most 128 characters' }).refine((k) => !k.toLowerCase().startsWith('aws:'), {
    error: 'tag keys starting with "aws:" are reserved by AWS',
  }),
  z.string({ error: (iss) => `must be a string${got(iss)}` }).max(256, { error: 'tag values are at most 256 characters' }),
  { error: (iss) => `must be a mapping of tag key to string value${got(iss)}` },
);

const fieldSchemas = {
  instanceType: instanceTypeSchema,
  nWorkers: positiveWholeNumber(MAX_WORKERS),
  workerCpu: positiveNumber(),
  workerMemoryGiB: positiveNumber(),
  schedulerCpu: positiveNumber(),
  schedulerMemoryGiB: positiveNumber(),
  resources: resourcesSchema,
  image: imageSchema,
  sourceGitBranch: gitBranchSchema,
  env: envSchema,
  idleTimeoutMinutes: positiveWholeNumber(),
  maxLifetimeHours: positiveNumber(MAX_LIFETIME_HOURS),
  name: clusterNameSchema,
  job: jobSchema,
  tags: tagsSchema,
};

/** A partial spec (template, YAML file, overrides): every field optional, unknown fields rejected. */
export const clusterSpecInputSchema = z.strictObject({
  instanceType: fieldSchemas.instanceType.optional(),
  nWorkers: fieldSchemas.nWorkers.optional(),
  workerCpu: fieldSchemas.workerCpu.optional(),
  workerMemoryGiB: fieldSchemas.workerMemoryGiB.optional(),
  schedulerCpu: fieldSchemas.schedulerCpu.optional(),
  schedulerMemoryGiB: fieldSchemas.schedulerMemoryGiB.optional(),
  resources: fieldSchemas.resources.optional(),
  image: fieldSchemas.image.optional(),
  sourceGitBranch: fieldSchemas.sourceGitBranch.optional(),
  env: fieldSchemas.env.optional(),
  idleTimeoutMinutes: fieldSchemas.idleTimeoutMinutes.optional(),
  maxLifetimeHours: fieldSchemas.maxLifetimeHours.optional(),
  name: fieldSchemas.name.optional(),
  job: fieldSchemas.job.optional(),
  tags: fieldSchemas.tags.optional(),
});

/** A complete, resolved spec. */
export const clusterSpecSchema = z.strictObject({
  ...fieldSchemas,
  sourceGitBranch: fieldSchemas.sourceGitBranch.optional(),
  name: fieldSchemas.name.optional(),
  job: fieldSchemas.job.optional(),
});

// Keep the schema and the `ClusterSpec` interface in step (compile-time check).
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const _specMatches: Equal<z.infer<typeof clusterSpecSchema>, ClusterSpec> = true;
const _inputMatches: Equal<Required<z.infer<typeof clusterSpecInputSchema>>, Required<ClusterSpecInput>> = true;
void _specMatches;
void _inputMatches;

/** The valid field name nearest to `name` (case-insensitive edit distance). */
export function nearestField(name: string): string {
  const needle = name.toLowerCase();
  let best: string = SPEC_FIELDS[0];
  let bestD = Number.POSITIVE_INFINITY;
  for (const f of SPEC_FIELDS) {
    const lower = f.toLowerCase();
    // A field that contains the word (cpu → workerCpu) beats any edit; the shortest such field wins.
    const d = lower.includes(needle) && needle.length >= 3 ? 0.5 + (lower.length - needle.length) / 100 : distance(needle, lower);
    if (d < bestD) {
      best = f;
      bestD = d;
    }
  }
  return best;
}

function join(prefix: string, path: PropertyKey[]): string {
  return [prefix, ...path.map(String)].filter((p) => p !== '').join('.');
}

/** Turn zod issues into plain `{path, message}` details (one per path, unknown fields named). */
export function issuesToDetails(issues: z.core.$ZodIssue[], prefix = '', input?: unknown): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  const seen = new Set<string>();
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = join(prefix, [...issue.path, key]);
        if (seen.has(path)) continue;
        seen.add(path);
        const message =
          issue.path.length === 0
            ? `unknown field; did you mean "${nearestField(key)}"?`
            : 'unknown field';
        out.push({ path, message });
      }
      continue;
    }
    const path = join(prefix, issue.path);
    if (seen.has(path)) continue;
    seen.add(path);
    let message = issue.message;
    if (issue.code === 'invalid_type' && issue.path.length === 0) {
      message = `a cluster spec must be a mapping of field names to values (got ${show(input)})`;
    } else if (issue.code === 'invalid_key') {
      message = issue.issues[0]?.message ?? message;
    }
    out.push({ path, message });
  }
  return out;
}
