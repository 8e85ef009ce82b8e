import { distance } from 'fastest-levenshtein';
import { z } from 'zod';
import type { ErrorDetail } from '../core/errors.ts';
import { isKnownInstanceType, nearestInstanceTypes } from '../catalog/instances.ts';
import { DatastoresSpecSchema } from '../datastores/config.ts';
import { imageReferenceProblem } from './image.ts';
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
  'datastores',
  'adaptive',
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
  z.custom<string>((v) => typeof v === 'string' && v.length <= max && pattern.test(v) && isWellFormed(v), {
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

/**
 * Container image reference pinned by a version tag or a digest, e.g.
 * `123.dkr.ecr.us-east-1.amazonaws.com/recc:1.2` or `recc@sha256:…`; never
 * `:latest` or untagged (`image.ts`). Absent: the deployment's image.
 */
export const imageSchema = z.custom<string>((v) => typeof v === 'string' && imageReferenceProblem(v) === undefined, {
  error: (iss) => (typeof iss.input !== 'string' ? `must be a string${got(iss)}` : `${imageReferenceProblem(iss.input) ?? 'is invalid'}${got(iss)}`),
});

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

/**
 * Keys of user-supplied maps (`resources`, `env`, `tags`). Besides each map's
 * own naming rule, `__proto__` is refused everywhere: JSON parsers, zod and the
 * DynamoDB unmarshaller treat it as the object's prototype rather than a key,
 * so it could never be stored and read back as written. Other names that
 * shadow `Object.prototype` (`constructor`, `toString`, …) are ordinary keys;
 * every reader and writer of these maps copes with them (see `resolve.ts` and
 * `adapters/store/item.ts`).
 */
const utf8 = new TextEncoder();

/** No unpaired UTF-16 surrogate (such text cannot be encoded as UTF-8, so DynamoDB and Kubernetes refuse it). */
export function isWellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

export const RESERVED_MAP_KEYS: ReadonlySet<string> = new Set(['__proto__']);

/** A map-key schema: `problem` returns what is wrong with a key, or undefined when it is fine. */
const mapKey = (problem: (key: string) => string | undefined) =>
  z.custom<string>((v) => typeof v === 'string' && problem(v) === undefined, {
    error: (iss) => (typeof iss.input === 'string' ? (problem(iss.input) ?? 'is not allowed') : `must be a string${got(iss)}`),
  });

/** What is wrong with a map key (`what` is plural, e.g. "tag keys"; `rule` a whole sentence), or undefined. */
function keyProblem(what: string, key: string, max: number, pattern: RegExp, rule: string): string | undefined {
  if (key.length === 0) return `${what} must not be empty`;
  if (key.length > max) return `${what} are at most ${max} characters (got ${key.length})`;
  if (RESERVED_MAP_KEYS.has(key)) return `${JSON.stringify(key)} is reserved and cannot be used as a key`;
  if (!pattern.test(key)) return rule;
  return undefined;
}

/** A map may have at most `max` keys; the error names the map and the count. */
const atMostKeys = (max: number, what: string) => (m: Record<string, unknown>, ctx: z.RefinementCtx) => {
  const n = Object.keys(m).length;
  if (n > max) ctx.addIssue({ code: 'custom', path: [], message: `at most ${max} ${what} (got ${n})` });
};

/** Most custom resources per worker. */
export const MAX_RESOURCES = 32;
export const MAX_RESOURCE_NAME_LENGTH = 128;
const resourceName = /^[A-Za-z][A-Za-z0-9_.\-/]*$/;
export const resourcesSchema = z
  .record(
    mapKey((k) =>
      keyProblem('resource names', k, MAX_RESOURCE_NAME_LENGTH, resourceName, 'resource names start with a letter and use letters, digits, "_", ".", "-" or "/"'),
    ),
    positiveNumber(),
    { error: (iss) => `must be a mapping of resource name to amount, such as {GPU: 1}${got(iss)}` },
  )
  .superRefine(atMostKeys(MAX_RESOURCES, 'resources'))
  .superRefine((r, ctx) => {
    for (const [k, v] of Object.entries(r)) {
      if (isGpuResource(k) && !Number.isInteger(v)) {
        ctx.addIssue({ code: 'custom', path: [k], message: `GPUs per worker must be a whole number (got ${v})` });
      }
    }
  });

/** Limits on `env`: POSIX names, bounded so a record stays far below DynamoDB's 400 KB item limit. */
export const MAX_ENV_VARS = 100;
export const MAX_ENV_NAME_LENGTH = 256;
export const MAX_ENV_VALUE_LENGTH = 4096;
/** All names and values together, in UTF-8 bytes. */
export const MAX_ENV_BYTES = 64 * 1024;
const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envValue = z.custom<string>(
  (v) => typeof v === 'string' && v.length <= MAX_ENV_VALUE_LENGTH && !v.includes('\0') && isWellFormed(v),
  {
    error: (iss) =>
      typeof iss.input !== 'string'
        ? `must be a string; quote numbers and booleans${got(iss)}`
        : iss.input.length > MAX_ENV_VALUE_LENGTH
          ? `must be at most ${MAX_ENV_VALUE_LENGTH} characters (got ${iss.input.length})`
          : iss.input.includes('\0')
            ? 'must not contain a NUL character (processes cannot receive it)'
            : 'must be valid Unicode text (it has an unpaired surrogate)',
  },
);
export const envSchema = z
  .record(
    mapKey((k) =>
      keyProblem('environment variable names', k, MAX_ENV_NAME_LENGTH, envName, 'environment variable names use letters, digits and "_" and do not start with a digit'),
    ),
    envValue,
    { error: (iss) => `must be a mapping of variable name to string value${got(iss)}` },
  )
  .superRefine(atMostKeys(MAX_ENV_VARS, 'environment variables'))
  .superRefine((env, ctx) => {
    let bytes = 0;
    for (const [k, v] of Object.entries(env)) bytes += utf8.encode(k).length + utf8.encode(v).length;
    if (bytes > MAX_ENV_BYTES) {
      ctx.addIssue({ code: 'custom', path: [], message: `names and values together must be at most ${MAX_ENV_BYTES} bytes (got ${bytes})` });
    }
  });

/**
 * AWS tag rules (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html):
 * keys 1–128 characters, values 0–256, both of Unicode letters, digits,
 * spaces and `_ . : / = + - @`; keys starting with `aws:` are reserved. At
 * most 50 tags per resource, and recc adds its own (`user`, `namespace`,
 * `cluster`, `job`), so users get 50 minus those.
 */
export const MAX_TAGS = 46;
const tagText = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const tagChars = 'use only letters, digits, spaces and _ . : / = + - @';
const tagKey = mapKey((k) => {
  const problem = keyProblem('tag keys', k, 128, tagText, `tag keys ${tagChars}`);
  if (problem !== undefined) return problem;
  return k.toLowerCase().startsWith('aws:') ? 'tag keys starting with "aws:" are reserved by AWS' : undefined;
});
const tagValue = z.custom<string>((v) => typeof v === 'string' && v.length <= 256 && tagText.test(v), {
  error: (iss) =>
    typeof iss.input !== 'string'
      ? `must be a string${got(iss)}`
      : iss.input.length > 256
        ? 'tag values are at most 256 characters'
        : `tag values must ${tagChars}${got(iss)}`,
});
export const tagsSchema = z
  .record(tagKey, tagValue, { error: (iss) => `must be a mapping of tag key to string value${got(iss)}` })
  .superRefine(atMostKeys(MAX_TAGS, 'tags'));

/** Defaults of the adaptive fields a spec leaves out (`maximum` has none). */
export const ADAPTIVE_DEFAULTS = { minimum: 0, targetDuration: 5, waitCount: 3, interval: 1 } as const;
const wholeNumberFrom0 = (max: number) =>
  z.custom<number>((v) => isNum(v) && Number.isInteger(v) && v >= 0 && v <= max, {
    error: (iss) => `must be a whole number from 0 to ${max}${got(iss)}`,
  });
const adaptiveFields = {
  minimum: wholeNumberFrom0(MAX_WORKERS),
  maximum: positiveWholeNumber(MAX_WORKERS),
  targetDuration: positiveNumber(3600),
  waitCount: positiveWholeNumber(1000),
  interval: z.custom<number>((v) => isNum(v) && v >= 0.1 && v <= 3600, { error: (iss) => `must be a number of seconds from 0.1 to 3600${got(iss)}` }),
};
const adaptiveError = { error: (iss: { input?: unknown }) => `must be a mapping such as {minimum: 1, maximum: 6}${got(iss)}` };
export const adaptiveInputSchema = z.strictObject(
  {
    minimum: adaptiveFields.minimum.optional(),
    maximum: adaptiveFields.maximum,
    targetDuration: adaptiveFields.targetDuration.optional(),
    waitCount: adaptiveFields.waitCount.optional(),
    interval: adaptiveFields.interval.optional(),
  },
  adaptiveError,
);
export const adaptiveSchema = z.strictObject(adaptiveFields, adaptiveError);

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
  /** Named stores, read order and write target for the cluster's workers (shared/datastores/config.ts). */
  datastores: DatastoresSpecSchema,
  adaptive: adaptiveSchema,
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
  datastores: fieldSchemas.datastores.optional(),
  adaptive: adaptiveInputSchema.optional(),
});

/** A complete, resolved spec. */
export const clusterSpecSchema = z.strictObject({
  ...fieldSchemas,
  image: fieldSchemas.image.optional(),
  sourceGitBranch: fieldSchemas.sourceGitBranch.optional(),
  name: fieldSchemas.name.optional(),
  job: fieldSchemas.job.optional(),
  datastores: fieldSchemas.datastores.optional(),
  adaptive: fieldSchemas.adaptive.optional(),
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
