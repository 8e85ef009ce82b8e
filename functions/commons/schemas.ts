import { z } from 'zod';
import { CLUSTER_STATUSES } from '../../shared/lifecycle/types.ts';

/**
 * zod schemas of the API's requests. Spec fields in create/estimate bodies are
 * validated by `resolveSpec` (which names unknown fields and suggests the
 * nearest valid one); these schemas check the envelope.
 */

/** Cluster ids are generated as `c-<base36>`; anything else cannot exist. */
export const clusterIdParams = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'is not a cluster id'),
});

/** clientToken: the idempotency key of a create, chosen by the client. */
export const clientTokenSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1-128 characters of letters, digits, ".", "_", ":" or "-"');

const shortText = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);

/**
 * Over the API a template is a NAME from `templates/` (never a file path: the
 * function's file system is not the caller's business).
 */
export const templateName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/, 'must be a template name (see GET /templates), not a path');

/** Every key of a request object must be a name (an empty key cannot name a field). */
function noEmptyKeys(value: Record<string, unknown>, ctx: z.RefinementCtx): void {
  if (Object.prototype.hasOwnProperty.call(value, '')) {
    ctx.addIssue({ code: 'custom', message: 'has a field with an empty name', path: [] });
  }
}

/** Envelope of `POST /estimates`: `template` plus spec overrides at the top level. */
export const estimateBody = z
  .looseObject({
    template: templateName.optional(),
  })
  .superRefine(noEmptyKeys);

/** Envelope of `POST /clusters`. Other top-level fields are spec overrides. */
export const createClusterBody = z
  .looseObject({
    template: templateName.optional(),
    name: shortText(100).optional(),
    job: shortText(100).optional(),
    clientToken: clientTokenSchema.optional(),
  })
  .superRefine(noEmptyKeys);

export const scaleClusterBody = z.strictObject({
  nWorkers: z
    .number({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a number') })
    .int('must be a whole number').nonnegative('must be a whole number, 0 or more').max(100_000, 'must be at most 100000'),
  /** Workers to stop first (an adaptive scheduler's graceful retirements). */
  retire: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/, 'must be a worker name (letters, digits, ".", "_", "-")')).max(100, 'at most 100 names').optional(),
  /** Clamp to the adaptive bounds and the quota instead of refusing (the scheduler's requests). */
  clamp: z.boolean({ error: 'must be true or false' }).optional(),
});

/** `POST /clusters/{id}/access`: the kubectl access to add (read-only is every owner's from the start). */
export const clusterAccessBody = z.strictObject({
  level: z.literal('edit', { error: 'must be "edit" (read-only access needs no request)' }),
});

/** `limit` and `nextToken` of every paged list (shared/api/pagination.ts). */
export const pageQuery = {
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'must be a whole number from 1 to 1000')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 1000, 'must be a whole number from 1 to 1000')
    .optional(),
  nextToken: z.string().regex(/^[A-Za-z0-9_-]{1,2048}$/, 'must be the nextToken of a previous page').optional(),
};

export const listClustersQuery = z.strictObject({
  all: z.enum(['true', 'false'], 'must be true or false').optional(),
  status: z.enum(CLUSTER_STATUSES, `must be one of ${CLUSTER_STATUSES.join(', ')}`).optional(),
  ...pageQuery,
});

export const noQuery = z.strictObject({});

/** Bodies that carry nothing (heartbeat): absent, or an empty JSON object. */
export const emptyBody = z.union([z.undefined(), z.strictObject({})], 'must be empty or {}');

/** Split an envelope into its own fields and the spec overrides. */
export function splitOverrides<K extends string>(body: Record<string, unknown>, own: readonly K[]): { own: Partial<Record<K, unknown>>; overrides: Record<string, unknown> } {
  const result: Partial<Record<K, unknown>> = {};
  const overrides: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if ((own as readonly string[]).includes(key)) result[key as K] = value;
    else overrides[key] = value;
  }
  return { own: result, overrides };
}
