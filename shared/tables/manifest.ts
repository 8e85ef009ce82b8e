import { z } from 'zod';
import type { ErrorDetail } from '../core/errors.ts';
import { CorruptDataError } from './errors.ts';
import { TABLE_FORMATS } from './formats.ts';

/**
 * The small manifest recc writes at the root of a dataset
 * (`_recc_dataset.json`): the partition columns and their kinds, the schema,
 * and for each partition its values, files and row counts, so partitions can
 * be listed and pruned without opening a data file. Written last, so a
 * dataset whose writer died has no manifest (or the previous one).
 */
export const MANIFEST_FILE = '_recc_dataset.json';

export const PARTITION_KINDS = ['string', 'int', 'date'] as const;
export type PartitionKind = (typeof PARTITION_KINDS)[number];

const ColumnSchemaSchema = z.strictObject({ name: z.string().min(1), type: z.string().min(1), nullable: z.boolean() });

const FileEntrySchema = z.strictObject({
  /** Relative to the dataset root. */
  key: z.string().min(1),
  rows: z.number().int().min(0),
  bytes: z.number().int().min(0),
});

const PartitionEntrySchema = z.strictObject({
  /** Directory relative to the root ('' for an unpartitioned dataset). */
  dir: z.string(),
  /** One value per partition column, in `partitionBy` order; null = Hive's default partition. */
  values: z.array(z.string().nullable()),
  rows: z.number().int().min(0),
  files: z.array(FileEntrySchema).min(1),
});

export const ManifestSchema = z.strictObject({
  recc: z.literal('dataset'),
  version: z.literal(1),
  format: z.enum(TABLE_FORMATS),
  partitionBy: z.array(z.strictObject({ name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), kind: z.enum(PARTITION_KINDS) })),
  /** Every column, partition columns included (they are not stored in the files). */
  schema: z.array(ColumnSchemaSchema).min(1),
  partitions: z.array(PartitionEntrySchema),
  updatedAt: z.string(),
});

export type Manifest = z.infer<typeof ManifestSchema>;
export type PartitionEntry = z.infer<typeof PartitionEntrySchema>;

/** Parses manifest bytes; anything else is CorruptDataError naming the store, key and every problem. */
export function parseManifest(store: string, key: string, bytes: Uint8Array): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new CorruptDataError(store, key, `not a JSON dataset manifest (${(err as Error).message})`, { cause: err });
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const details: ErrorDetail[] = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
    throw new CorruptDataError(store, key, `not a valid dataset manifest: ${details.slice(0, 5).map((d) => `${d.path || '(root)'}: ${d.message}`).join('; ')}`);
  }
  const m = parsed.data;
  const problems = m.partitions.flatMap((p, i) => (p.values.length === m.partitionBy.length ? [] : [`partitions.${i}.values: expected ${m.partitionBy.length} values`]));
  if (problems.length > 0) throw new CorruptDataError(store, key, `not a valid dataset manifest: ${problems.slice(0, 5).join('; ')}`);
  return m;
}

export function serializeManifest(m: Manifest): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(m, null, 1)}\n`);
}
