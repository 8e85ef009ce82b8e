import { loadDatastoresConfig } from '../../adapters/datastores/load-config.ts';
import { StoreRegistry } from '../../adapters/datastores/open.ts';
import { copyObject, objectsAt, syncReason, type SyncReason } from '../../adapters/datastores/transfer.ts';
import { ReccError, ValidationError } from '../../shared/core/errors.ts';
import { formatColumns, formatKeyValues } from '../../shared/core/text.ts';
import { storeConfig, type DatastoresConfig } from '../../shared/datastores/config.ts';
import { mapPool } from '../../shared/datastores/fallthrough.ts';
import { checkPrefix, listAll, type Datastore, type ObjectStat } from '../../shared/datastores/port.ts';
import { printJson } from '../output.ts';
import { TransferProgress, formatBytes } from './data-progress.ts';

/** The actions of `recc data …` (loaded lazily by `data.ts`). */
export interface DataFlags {
  json?: boolean;
  concurrency?: string;
  dryRun?: boolean;
  quiet?: boolean;
  progressInterval?: string;
}

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

/**
 * Bad input (an unknown store, a malformed config or key) is a usage error:
 * exit 2 and the failure envelope's `details`, like every other command.
 */
async function usage<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ReccError && err.statusCode === 400 && !(err instanceof ValidationError)) {
      throw new ValidationError(err.message, err.details, { cause: err });
    }
    throw err;
  }
}

function open(): Promise<{ config: DatastoresConfig; registry: StoreRegistry }> {
  return usage(() => {
    const config = loadDatastoresConfig();
    return { config, registry: new StoreRegistry(config) };
  });
}

function store(registry: StoreRegistry, name: string): Promise<Datastore> {
  return usage(() => {
    storeConfig(registry.config, name);
    return registry.get(name);
  });
}

const iso = (ms: number) => (ms > 0 ? new Date(ms).toISOString() : '');
const view = (o: ObjectStat) => ({ key: o.key, size: o.size, ...(o.etag ? { etag: o.etag } : {}), mtime: iso(o.mtimeMs) });

function intFlag(raw: string | undefined, path: string, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new ValidationError(`--${path} must be a whole number from 1 to ${max}`, [{ path, message: `expected 1..${max}, got ${JSON.stringify(raw)}` }]);
  }
  return Number(raw);
}

/** `recc data ls`: the configured stores; `recc data ls STORE [PREFIX]`: the objects under PREFIX. */
export async function ls(name: string | undefined, prefix: string | undefined, flags: DataFlags): Promise<void> {
  const { config, registry } = await open();
  if (name === undefined) {
    const stores = Object.keys(config.stores)
      .sort()
      .map((n) => {
        const s = registry.get(n);
        const readAt = config.read.indexOf(n);
        return { name: n, type: config.stores[n]?.type, location: s.location, read: readAt >= 0 ? readAt + 1 : null, write: config.write === n, cache: config.cache?.store === n };
      });
    if (flags.json) {
      printJson({ stores, read: config.read, write: config.write, cache: config.cache, sources: config.sources });
      return;
    }
    out(
      formatColumns([
        ['STORE', 'TYPE', 'READ', 'WRITE', 'LOCATION'],
        ...stores.map((s) => [s.name, `${s.type}${s.cache ? ' (cache)' : ''}`, s.read === null ? '-' : String(s.read), s.write ? 'yes' : '', s.location]),
      ]),
    );
    out(`\nread ${config.read.join(' → ')}, write ${config.write}${config.cache ? `, cache ${config.cache.store} (${formatBytes(config.cache.maxBytes)})` : ''}; from ${config.sources.join(' < ')}`);
    return;
  }
  const s = await store(registry, name);
  const p = prefix ?? '';
  await usage(() => checkPrefix(s.name, p));
  const objects: ObjectStat[] = [];
  for await (const o of listAll(s, p)) objects.push(o);
  const bytes = objects.reduce((a, o) => a + o.size, 0);
  if (flags.json) {
    printJson({ store: s.name, location: s.location, prefix: p, objects: objects.map(view), count: objects.length, bytes });
    return;
  }
  if (objects.length === 0) {
    out(`no objects under "${p}" in ${s.name} (${s.location})`);
    return;
  }
  out(formatColumns([['SIZE', 'MODIFIED', 'KEY'], ...objects.map((o) => [formatBytes(o.size), iso(o.mtimeMs).replace(/\.\d+Z$/, 'Z'), o.key])]));
  out(`\n${objects.length} objects, ${formatBytes(bytes)} in ${s.name} (${s.location})`);
}

/** `recc data stat STORE KEY`. */
export async function stat(name: string, key: string, flags: DataFlags): Promise<void> {
  const { registry } = await open();
  const s = await store(registry, name);
  const st = await usage(() => s.stat(key));
  if (flags.json) {
    printJson({ store: s.name, location: s.location, ...view(st) });
    return;
  }
  out(
    formatKeyValues([
      ['store', `${s.name} (${s.location})`],
      ['key', st.key],
      ['size', `${st.size} bytes (${formatBytes(st.size)})`],
      ['modified', iso(st.mtimeMs)],
      ...(st.etag ? ([['etag', st.etag]] as Array<[string, string]>) : []),
    ]),
  );
}

interface Planned {
  stat: ObjectStat;
  reason: SyncReason;
}

async function transfer(
  verb: 'copy' | 'sync',
  src: Datastore,
  dst: Datastore,
  planned: Planned[],
  flags: DataFlags,
): Promise<{ copied: Array<{ key: string; size: number; reason: SyncReason }>; bytes: number; elapsedMs: number }> {
  const started = Date.now();
  const totalBytes = planned.reduce((a, p) => a + p.stat.size, 0);
  const progress = flags.quiet || flags.dryRun
    ? undefined
    : new TransferProgress({
        label: `${verb} ${src.name} → ${dst.name}`,
        totalObjects: planned.length,
        totalBytes,
        intervalMs: flags.progressInterval === undefined ? 10_000 : intFlag(flags.progressInterval, 'progress-interval', 10_000, 3_600_000),
      });
  const copied: Array<{ key: string; size: number; reason: SyncReason }> = [];
  if (!flags.dryRun) {
    progress?.start();
    try {
      await mapPool(planned, intFlag(flags.concurrency, 'concurrency', 4, 64), async (p) => {
        await copyObject(src, dst, p.stat.key, { stat: p.stat, onBytes: (n) => progress?.addBytes(n) });
        copied.push({ key: p.stat.key, size: p.stat.size, reason: p.reason });
        progress?.objectDone();
      });
    } finally {
      progress?.finish();
    }
  }
  copied.sort((a, b) => (a.key < b.key ? -1 : 1));
  return { copied, bytes: copied.reduce((a, c) => a + c.size, 0), elapsedMs: Date.now() - started };
}

/** `recc data cp FROM TO PATH`: one object, or every object under a prefix; always copies. */
export async function cp(from: string, to: string, path: string, flags: DataFlags): Promise<void> {
  const { registry } = await open();
  const src = await store(registry, from);
  const dst = await store(registry, to);
  if (src === dst) throw new ValidationError('recc data cp: the source and destination are the same store', [{ path: 'to', message: `expected a store other than ${from}` }]);
  const objects = await usage(() => objectsAt(src, path));
  const result = await transfer('copy', src, dst, objects.map((stat) => ({ stat, reason: 'new' as const })), flags);
  if (flags.json) {
    printJson({ from: src.name, to: dst.name, path, copied: result.copied.map(({ key, size }) => ({ key, size })), count: result.copied.length, bytes: result.bytes, elapsedMs: result.elapsedMs });
    return;
  }
  out(`copied ${result.copied.length} objects (${formatBytes(result.bytes)}) from ${src.name} to ${dst.name}`);
}

/**
 * `recc data sync FROM TO PREFIX`: copies only what is missing or changed at
 * TO (size, then ETag/MD5, then mtime); never deletes.
 */
export async function sync(from: string, to: string, prefix: string | undefined, flags: DataFlags): Promise<void> {
  const { registry } = await open();
  const src = await store(registry, from);
  const dst = await store(registry, to);
  if (src === dst) throw new ValidationError('recc data sync: the source and destination are the same store', [{ path: 'to', message: `expected a store other than ${from}` }]);
  const p = prefix ?? '';
  await usage(() => checkPrefix(src.name, p));
  const theirs = new Map<string, ObjectStat>();
  for await (const o of listAll(dst, p)) theirs.set(o.key, o);
  const mine: ObjectStat[] = [];
  for await (const o of listAll(src, p)) mine.push(o);
  const decisions = await mapPool(mine, intFlag(flags.concurrency, 'concurrency', 4, 64), async (stat) => {
    const d = theirs.get(stat.key);
    return { stat, reason: await syncReason({ store: src, stat }, d ? { store: dst, stat: d } : undefined) };
  });
  const planned = decisions.filter((d): d is Planned => d.reason !== undefined);
  const unchanged = decisions.length - planned.length;
  const result = await transfer('sync', src, dst, planned, flags);
  const copied = flags.dryRun ? planned.map((d) => ({ key: d.stat.key, size: d.stat.size, reason: d.reason })) : result.copied;
  if (flags.json) {
    printJson({ from: src.name, to: dst.name, prefix: p, dryRun: Boolean(flags.dryRun), copied, count: copied.length, unchanged, bytes: copied.reduce((a, c) => a + c.size, 0), elapsedMs: result.elapsedMs });
    return;
  }
  const verb = flags.dryRun ? 'would copy' : 'copied';
  for (const c of copied) out(`${verb} ${c.key} (${c.reason}, ${formatBytes(c.size)})`);
  out(`${verb} ${copied.length} objects (${formatBytes(copied.reduce((a, c) => a + c.size, 0))}) from ${src.name} to ${dst.name}; ${unchanged} unchanged`);
}
