import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { z } from 'zod';
import { QuotaExceededError } from '../../shared/quota/errors.ts';
import { quotaViolations, type QuotaLimits, type QuotaLimitsByScope, type QuotaViolation } from '../../shared/quota/limits.ts';
import { QUOTA_DIMENSIONS, subtractUsage, usageDeltas, ZERO_USAGE, type Usage } from '../../shared/quota/usage.ts';
import type { ClusterRecord } from '../../shared/lifecycle/types.ts';
import { ClusterStoreError } from './errors.ts';
import type { WriterContext } from './dynamodb-writer.ts';

/**
 * Quota usage items of the cluster table (one per scope):
 *
 * | item  | pk                           | sk      | attributes                               |
 * |-------|------------------------------|---------|------------------------------------------|
 * | usage | `USAGE#<urlenc(scope)>`      | `USAGE` | clusters, vcpus, gpus, costPerHour (stored integer units, `shared/quota/usage.ts`) |
 *
 * A usage item changes only inside the write that changes the record it
 * counts (TransactWriteItems on AWS and DynamoDB Local; ordered conditional
 * writes on dynalite, reserving before the record and releasing after it).
 * An increase is an `ADD` conditional on `usage <= limit - increase` for
 * each limited dimension that grows, so concurrent creates can never take a
 * scope over its limit.
 */
export const USAGE_SK = 'USAGE';

export function usagePk(scope: string): string {
  return `USAGE#${encodeURIComponent(scope)}`;
}

/** One scope's part of a write: the change and, for increases, the limits it must stay within. */
export interface UsageWrite {
  scope: string;
  delta: Usage;
  limits: QuotaLimits | undefined;
}

/** The usage writes a record change needs (none when nothing counted changes). */
export function usageWrites(previous: ClusterRecord | undefined, next: ClusterRecord, quota: QuotaLimitsByScope | undefined): UsageWrite[] {
  return [...usageDeltas(previous, next)].map(([scope, delta]) => ({ scope, delta, limits: quota?.get(scope) }));
}

export function grows(write: UsageWrite): boolean {
  return QUOTA_DIMENSIONS.some((d) => write.delta[d] > 0);
}

/** The same write with the opposite sign and no condition (undoing a reservation). */
export function reversed(write: UsageWrite): UsageWrite {
  return { scope: write.scope, delta: subtractUsage(ZERO_USAGE, write.delta), limits: undefined };
}

/** UpdateItem input (also a TransactWriteItems `Update`) adding `write.delta`, conditional on its limits. */
export function usageUpdateInput(table: string, write: UsageWrite) {
  const names: Record<string, string> = { '#entity': 'entity', '#scope': 'scope' };
  const values: Record<string, unknown> = { ':entity': 'usage', ':scope': write.scope };
  const adds: string[] = [];
  const conditions: string[] = [];
  QUOTA_DIMENSIONS.forEach((dimension, i) => {
    names[`#d${i}`] = dimension;
    values[`:d${i}`] = write.delta[dimension];
    adds.push(`#d${i} :d${i}`);
    const limit = write.limits?.[dimension];
    if (limit !== undefined && write.delta[dimension] > 0) {
      values[`:max${i}`] = limit - write.delta[dimension];
      conditions.push(`(attribute_not_exists(#d${i}) OR #d${i} <= :max${i})`);
    }
  });
  return {
    TableName: table,
    Key: { pk: usagePk(write.scope), sk: USAGE_SK },
    UpdateExpression: `SET #entity = :entity, #scope = :scope ADD ${adds.join(', ')}`,
    ...(conditions.length ? { ConditionExpression: conditions.join(' AND ') } : {}),
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  };
}

const usageItemShape = z.object({
  clusters: z.number().default(0),
  vcpus: z.number().default(0),
  gpus: z.number().default(0),
  costPerHour: z.number().default(0),
});

export function usageFromItem(item: Record<string, unknown> | undefined): Usage {
  if (item === undefined) return { ...ZERO_USAGE };
  const parsed = usageItemShape.safeParse(item);
  if (!parsed.success) throw new ClusterStoreError(`malformed usage item ${String(item.pk)}: ${parsed.error.message}`, { cause: parsed.error });
  return parsed.data;
}

/** A usage item as a failed condition sent it back (ALL_OLD), when the backend sends it. */
export function usageFromAttributes(raw: Record<string, AttributeValue> | undefined): Usage | undefined {
  return raw === undefined || Object.keys(raw).length === 0 ? undefined : usageFromItem(unmarshall(raw));
}

/** Consistent reads of each scope's usage item. */
export async function readUsage(ctx: WriterContext, scopes: readonly string[]): Promise<Map<string, Usage>> {
  const out = new Map<string, Usage>();
  for (const scope of scopes) {
    const { Item } = await ctx.doc.send(new GetCommand({ TableName: ctx.table, Key: { pk: usagePk(scope), sk: USAGE_SK }, ConsistentRead: true }));
    out.set(scope, usageFromItem(Item));
  }
  return out;
}

/** One conditional UpdateItem of a usage item; false when its limit condition failed. */
export async function updateUsageOnce(ctx: WriterContext, write: UsageWrite): Promise<boolean> {
  try {
    await ctx.doc.send(new UpdateCommand(usageUpdateInput(ctx.table, write)));
    return true;
  } catch (err) {
    if ((err as { name?: string }).name === 'ConditionalCheckFailedException') return false;
    throw err;
  }
}

/**
 * The violations of `writes` against usage as it is now (`known` where a
 * failed condition sent the item back). Empty means the usage dropped since
 * the condition failed: the caller may try again.
 */
export async function violationsNow(ctx: WriterContext, writes: readonly UsageWrite[], known: ReadonlyMap<string, Usage> = new Map()): Promise<QuotaViolation[]> {
  const missing = writes.map((w) => w.scope).filter((s) => !known.has(s));
  const read = missing.length ? await readUsage(ctx, missing) : new Map<string, Usage>();
  return writes.flatMap((w) => quotaViolations(w.scope, known.get(w.scope) ?? read.get(w.scope) ?? ZERO_USAGE, w.delta, w.limits));
}

/**
 * Refuse before writing when a request alone exceeds a limit (an `ADD` on a
 * missing item would pass its condition), with the usage as it is now.
 */
export async function refuseImpossible(ctx: WriterContext, writes: readonly UsageWrite[]): Promise<void> {
  const impossible = writes.filter((w) => quotaViolations(w.scope, ZERO_USAGE, w.delta, w.limits).length > 0);
  if (impossible.length === 0) return;
  throw new QuotaExceededError(await violationsNow(ctx, impossible));
}
