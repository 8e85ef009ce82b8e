import { z } from 'zod';
import type { ErrorDetail } from '../core/errors.ts';
import { DatastoreConfigError } from './errors.ts';

/**
 * Datastore configuration: named stores, a read order and a write target.
 * Pure: the loader (adapters/datastores/load-config.ts) reads the file and
 * environment and hands the layers here, later layers overriding earlier.
 */
const STORE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;

export const LocalStoreSchema = z.strictObject({
  type: z.literal('local'),
  /** Absolute, or relative to the config file's directory (the working directory for env/defaults). */
  root: z.string().min(1),
});

export const S3StoreSchema = z.strictObject({
  type: z.literal('s3'),
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 lowercase letters, digits, "." or "-")'),
  /** Key prefix inside the bucket, e.g. `research/`; empty for the whole bucket. */
  prefix: z.string().default('').refine((p) => !p.startsWith('/'), 'expected a prefix without a leading "/"'),
  region: z.string().min(1).default('us-east-1'),
  endpoint: z.url().optional(),
});

export const StoreSchema = z.discriminatedUnion('type', [LocalStoreSchema, S3StoreSchema], {
  error: 'expected a store with type "local" (root) or "s3" (bucket, prefix, region, optional endpoint)',
});

export const CacheSchema = z.strictObject({
  /** A local store that keeps copies of objects read from later stores. */
  store: z.string(),
  maxBytes: z.number().int().positive().default(10 * 1024 ** 3),
  /** Check a copy against its source (HEAD / stat, no GET) before serving it; false serves copies until evicted. */
  revalidate: z.boolean().default(true),
});

/** One layer as written in a file or built from env / a call; every field optional. */
export const ConfigLayerSchema = z.strictObject({
  stores: z.record(z.string().regex(STORE_NAME, 'expected a store name of letters, digits, "_" or "-"'), StoreSchema).optional(),
  read: z.array(z.string()).min(1, 'expected at least one store to read from').optional(),
  write: z.string().optional(),
  cache: CacheSchema.nullable().optional(),
  /** Reads in flight at once across a fall-through read. */
  concurrency: z.number().int().min(1).max(256).optional(),
});

/**
 * The `datastores` field of a cluster spec: one layer that the cluster's
 * workers receive (RECC_DATASTORES_JSON) on top of their own defaults. It is
 * checked on its own, so a typo fails at `cluster create`, not in a task:
 * every name it uses is one of its stores (or LOCAL, every machine's default),
 * and local roots are absolute (workers run in another directory, or a pod).
 */
const S3StoreSpecSchema = S3StoreSchema.extend({
  prefix: z.string().refine((p) => !p.startsWith('/'), 'expected a prefix without a leading "/"').optional(),
  region: z.string().min(1).optional(),
});
/**
 * The field's shape as stored (no defaults filled in: the workers' loader fills
 * them, so a record keeps what the user wrote). Also the structural check
 * used when a stored record is read back.
 */
export const DatastoresSpecShape = ConfigLayerSchema.extend({
  stores: z
    .record(
      z.string().regex(STORE_NAME, 'expected a store name of letters, digits, "_" or "-"'),
      z.discriminatedUnion('type', [LocalStoreSchema, S3StoreSpecSchema], {
        error: 'expected a store with type "local" (root) or "s3" (bucket, prefix, region, optional endpoint)',
      }),
    )
    .optional(),
  cache: CacheSchema.extend({ maxBytes: z.number().int().positive().optional(), revalidate: z.boolean().optional() }).nullable().optional(),
});
export const DatastoresSpecSchema = DatastoresSpecShape.superRefine((layer, ctx) => {
  const stores = layer.stores ?? {};
  const known = [...new Set(['LOCAL', ...Object.keys(stores)])].sort();
  const check = (path: PropertyKey[], name: string) => {
    if (!Object.hasOwn(stores, name) && name !== 'LOCAL') ctx.addIssue({ code: 'custom', path, message: `unknown store "${name}"; expected one of ${known.join(', ')}` });
  };
  layer.read?.forEach((n, i) => check(['read', i], n));
  if (layer.write !== undefined) check(['write'], layer.write);
  if (layer.cache) {
    check(['cache', 'store'], layer.cache.store);
    const c = Object.hasOwn(stores, layer.cache.store) ? stores[layer.cache.store] : undefined;
    if (c && c.type !== 'local') ctx.addIssue({ code: 'custom', path: ['cache', 'store'], message: `store "${layer.cache.store}" is ${c.type}; expected a local store for the cache` });
  }
  for (const [name, store] of Object.entries(stores)) {
    if (store.type === 'local' && !store.root.startsWith('/')) {
      ctx.addIssue({ code: 'custom', path: ['stores', name, 'root'], message: `expected an absolute path (workers do not run in your working directory), got ${JSON.stringify(store.root)}` });
    }
  }
});
export type DatastoresSpec = z.output<typeof DatastoresSpecShape>;

export type LocalStoreConfig = z.infer<typeof LocalStoreSchema>;
export type S3StoreConfig = z.infer<typeof S3StoreSchema>;
export type StoreConfig = z.infer<typeof StoreSchema>;
export type ConfigLayer = z.input<typeof ConfigLayerSchema>;

export interface DatastoresConfig {
  stores: Record<string, StoreConfig>;
  read: string[];
  write: string;
  cache: { store: string; maxBytes: number; revalidate: boolean } | null;
  concurrency: number;
  /** Where each setting came from, for `recc data` and error messages. */
  sources: string[];
}

/** With no file and no env the local quick start still works: everything under `.recc/data`. */
export const DEFAULT_LAYER: ConfigLayer = {
  stores: { LOCAL: { type: 'local', root: '.recc/data' } },
  read: ['LOCAL'],
  write: 'LOCAL',
  cache: null,
  concurrency: 8,
};

function zodDetails(error: z.ZodError, prefix: string): ErrorDetail[] {
  return error.issues.map((i) => ({ path: [prefix, ...i.path.map(String)].filter(Boolean).join('.'), message: i.message }));
}

/** Validates one layer; `source` (a file path, `env`, `override`) prefixes every problem. */
export function parseLayer(raw: unknown, source: string): z.output<typeof ConfigLayerSchema> {
  const parsed = ConfigLayerSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const details = zodDetails(parsed.error, '');
    throw new DatastoreConfigError(
      `invalid datastore configuration in ${source}: ${details.map((d) => `${d.path || '(root)'}: ${d.message}`).join('; ')}`,
      details,
    );
  }
  return parsed.data;
}

/** The variable the cluster spec's datastore settings reach workers in (JSON of one layer). */
export const DATASTORES_JSON_ENV = 'RECC_DATASTORES_JSON';

/**
 * `RECC_DATASTORES_READ=FP_LOCAL,LOCAL,S3`, `RECC_DATASTORES_WRITE=S3`,
 * `RECC_DATASTORES_CACHE=FP_LOCAL` (or `none`).
 */
export function layerFromEnv(env: Record<string, string | undefined>): ConfigLayer {
  const layer: ConfigLayer = {};
  const cache = env.RECC_DATASTORES_CACHE?.trim();
  if (cache) layer.cache = cache === 'none' ? null : { store: cache };
  const read = env.RECC_DATASTORES_READ?.trim();
  if (read) layer.read = read.split(',').map((s) => s.trim()).filter(Boolean);
  const write = env.RECC_DATASTORES_WRITE?.trim();
  if (write) layer.write = write;
  return layer;
}

/**
 * Merges layers (earliest first): stores merge by name, a later definition of a
 * name replacing the earlier one; read, write, cache and concurrency are replaced.
 * Then every name used is checked against the stores defined.
 */
export function resolveConfig(layers: Array<{ source: string; layer: unknown }>): DatastoresConfig {
  const out: DatastoresConfig = { stores: {}, read: [], write: '', cache: null, concurrency: 8, sources: [] };
  for (const { source, layer } of [{ source: 'defaults', layer: DEFAULT_LAYER }, ...layers]) {
    const l = parseLayer(layer, source);
    out.sources.push(source);
    if (l.stores) Object.assign(out.stores, l.stores);
    if (l.read) out.read = l.read;
    if (l.write) out.write = l.write;
    if (l.cache !== undefined) out.cache = l.cache;
    if (l.concurrency !== undefined) out.concurrency = l.concurrency;
  }
  const known = Object.keys(out.stores).sort();
  const problems: ErrorDetail[] = [];
  const check = (path: string, name: string) => {
    if (!out.stores[name]) problems.push({ path, message: `unknown store "${name}"; expected one of ${known.join(', ')}` });
  };
  out.read.forEach((n, i) => check(`read.${i}`, n));
  check('write', out.write);
  if (out.cache) {
    check('cache.store', out.cache.store);
    const cacheStore = out.stores[out.cache.store];
    if (cacheStore && cacheStore.type !== 'local') {
      problems.push({ path: 'cache.store', message: `store "${out.cache.store}" is ${cacheStore.type}; expected a local store for the cache` });
    }
  }
  if (new Set(out.read).size !== out.read.length) problems.push({ path: 'read', message: `a store appears twice in the read order ${out.read.join(',')}` });
  if (problems.length) {
    throw new DatastoreConfigError(
      `invalid datastore configuration (from ${out.sources.join(' < ')}): ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      problems,
    );
  }
  return out;
}

/** Looks up one store by name with an error that lists the known ones. */
export function storeConfig(config: DatastoresConfig, name: string): StoreConfig {
  const s = config.stores[name];
  if (!s) {
    throw new DatastoreConfigError(`unknown store "${name}"; expected one of ${Object.keys(config.stores).sort().join(', ')}`, [
      { path: 'store', message: `unknown store "${name}"` },
    ]);
  }
  return s;
}
