import type { Table } from 'apache-arrow';
import { LocalDatastore } from '../adapters/datastores/local.ts';
import { datastoresConfig } from '../adapters/datastores/load-config.ts';
import { openStore } from '../adapters/datastores/open.ts';
import { commitDataset, newWriteId, openDataset, removeUnpublishedFiles, type DatasetPieces, type DatasetReadOptions, type PartitionJob, type StoreSpec, type WriteDatasetOptions, type WritePartJob } from '../adapters/datastores/dataset.ts';
import type { Manifest } from '../shared/tables/manifest.ts';
import { storeConfig } from '../shared/datastores/config.ts';
import type { Datastore } from '../shared/datastores/port.ts';
import { TableOptionsError } from '../shared/tables/errors.ts';
import type { Future } from './future.ts';

/**
 * `client.readDataset(store, path, { where, columns })`: the partitions that
 * may match are found here (from the manifest; no data file is opened), then
 * each is read by a task on a worker, which opens the store itself (its own
 * credentials: IAM on EKS) and returns an Arrow Table, sent back as IPC.
 */
interface MapCapable {
  map<T, R>(fn: (item: T) => R, items: Iterable<T>): Array<Future<Awaited<R>>>;
}

interface SubmitCapable {
  submit<A extends unknown[], R>(fn: (...args: A) => R, ...args: unknown[]): Future<Awaited<R>>;
  gather<T>(futures: ReadonlyArray<Future<T>>): Promise<T[]>;
}

export type DatasetStoreRef = string | LocalDatastore | StoreSpec;

function storeSpecOf(store: DatasetStoreRef): StoreSpec {
  if (typeof store === 'string') return { name: store, config: storeConfig(datastoresConfig(), store) };
  if (store instanceof LocalDatastore) return { name: store.name, config: { type: 'local', root: store.root } };
  if (store && typeof store === 'object' && 'config' in store && store.config && typeof store.config === 'object' && typeof store.name === 'string') return store;
  throw new TableOptionsError(`cannot send store ${(store as Partial<Datastore> | null)?.name ?? String(store)} to workers`, [
    { path: 'store', message: 'expected a configured store name (recc.datastores.yaml), a LocalDatastore, or { name, config }' },
  ]);
}

export async function readDataset(client: MapCapable, store: DatasetStoreRef, path: string, options: DatasetReadOptions = {}): Promise<Array<Future<Table>>> {
  const spec = storeSpecOf(store);
  const ds = openDataset(openStore(spec.name, spec.config), path);
  const parts = await ds.partitions({ where: options.where });
  const manifest = await ds.manifest();
  const layout = manifest ? { format: manifest.format, partitionBy: manifest.partitionBy, schema: manifest.schema } : undefined;
  const jobs: PartitionJob[] = parts.map((partition) => ({ store: spec, root: ds.root, partition, layout, options }));
  // Inline tasks ship as source; worker threads offer recc's table layer under this symbol (worker/thread.ts).
  return client.map(async function readPartition(job: PartitionJob) {
    const load = (globalThis as Record<symbol, unknown>)[Symbol.for('recc.tables')] as (() => Promise<{ readPartitionJob: (j: PartitionJob) => Promise<Table> }>) | undefined;
    if (!load) throw new Error('this worker has no recc table layer (worker/thread.ts); upgrade the worker image');
    return (await load()).readPartitionJob(job);
  }, jobs) as Array<Future<Table>>;
}


/**
 * `DistributedTable.writeDataset`: one task per partition writes that
 * partition's files (`part-<writeId>-<i>`, the worker opening the store with
 * its own credentials); the manifest is written here once every task
 * succeeded, so a failure leaves no manifest (or the previous one) and readers
 * never see partial data.
 */
export async function writeDatasetParts(client: SubmitCapable, store: DatasetStoreRef, path: string, partitions: ReadonlyArray<Future<unknown>>, options: WriteDatasetOptions): Promise<Manifest> {
  const spec = storeSpecOf(store);
  const writeId = newWriteId();
  const tasks = partitions.map((part, index) =>
    client.submit(
      async function writeDatasetPart(job: WritePartJob, table: unknown) {
        const load = (globalThis as Record<symbol, unknown>)[Symbol.for('recc.tables')] as (() => Promise<{ writeDatasetPartJob: (j: WritePartJob, t: unknown) => Promise<DatasetPieces> }>) | undefined;
        if (!load) throw new Error('this worker has no recc table layer (worker/thread.ts); upgrade the worker image');
        return (await load()).writeDatasetPartJob(job, table);
      },
      { store: spec, root: path, options, writeId, index } satisfies WritePartJob,
      part,
    ),
  );
  try {
    const pieces = (await client.gather(tasks)) as DatasetPieces[];
    return await commitDataset(openStore(spec.name, spec.config), path, pieces, options);
  } catch (err) {
    // Tasks still running could write after a sweep: wait until every one has settled, then delete the
    // files this attempt (its unique writeId) wrote that no manifest names. The write's own error wins.
    await Promise.allSettled(tasks.map((t) => t.wait()));
    try {
      await removeUnpublishedFiles(openStore(spec.name, spec.config), path, writeId);
    } catch (cleanup) {
      // The write's own error is the one to report; the sweep's rides along for whoever logs it.
      if (err instanceof Error && Object.isExtensible(err)) Object.assign(err, { cleanupError: cleanup });
    }
    throw err;
  } finally {
    for (const t of tasks) t.release();
  }
}
