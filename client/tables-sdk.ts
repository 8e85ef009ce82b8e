import type { Table } from 'apache-arrow';
import type { ObjectStat, Datastore } from '../shared/datastores/port.ts';
import type { DatastoresConfig, StoreConfig } from '../shared/datastores/config.ts';
import type { Manifest } from '../shared/tables/manifest.ts';
import type { ColumnSchema } from '../shared/tables/schema.ts';
import type { Where } from '../shared/tables/where.ts';

/**
 * The table layer as `import { readTable, writeTable, openDataset, datastores } from 'recc'`
 * gives it. Every call loads adapters/tables (and with it the AWS SDK's S3
 * client) on first use, so `import 'recc'` stays as quick as it was for
 * scripts that never touch a datastore.
 */
type Tables = typeof import('../adapters/tables/index.ts');
type StoreRef = import('../adapters/tables/index.ts').StoreRef;
type TableLike = import('../adapters/tables/index.ts').TableLike;

let loading: Promise<Tables> | undefined;
function tables(): Promise<Tables> {
  loading ??= import('../adapters/tables/index.ts');
  return loading;
}

/** Reads a Parquet, Arrow IPC, CSV or JSON lines object from a store (or a configured store's name) as an Arrow Table. */
export async function readTable(store: StoreRef, key: string, options?: import('../adapters/tables/index.ts').ReadTableOptions): Promise<Table> {
  return (await tables()).readTable(store, key, options);
}

/** readTable, plus what was fetched and how many Parquet row groups were read. */
export async function readTableInfo(store: StoreRef, key: string, options?: import('../adapters/tables/index.ts').ReadTableOptions): Promise<import('../adapters/tables/index.ts').ReadTableInfo> {
  return (await tables()).readTableInfo(store, key, options);
}

/** Writes an Arrow Table (or polars DataFrame) atomically, in the format the key's extension or `format` names. */
export async function writeTable(store: StoreRef, key: string, table: TableLike, options?: import('../adapters/tables/index.ts').WriteTableOptions): Promise<ObjectStat> {
  return (await tables()).writeTable(store, key, table, options);
}

/** Writes a table as a Hive-partitioned dataset with a manifest. */
export async function writeDataset(store: StoreRef, path: string, table: TableLike, options: import('../adapters/tables/index.ts').WriteDatasetOptions): Promise<Manifest> {
  return (await tables()).writeDataset(store, path, table, options);
}

/** A dataset handle; nothing is read until a method is called. See adapters/datastores/dataset.ts. */
export interface DatasetHandle {
  partitions(options?: { where?: Where }): Promise<import('../adapters/tables/index.ts').DatasetPartition[]>;
  read(options?: import('../adapters/tables/index.ts').DatasetReadOptions): Promise<Table>;
  readPartition(partition: import('../adapters/tables/index.ts').DatasetPartition, options?: import('../adapters/tables/index.ts').DatasetReadOptions): Promise<Table>;
  manifest(): Promise<Manifest | undefined>;
  schema(): Promise<ColumnSchema[]>;
}

/** `openDataset(store, 'prices').partitions({ where: { date: { gte: '2024-01-01' } } })`. */
export function openDataset(store: StoreRef, path: string): DatasetHandle {
  let ds: Promise<import('../adapters/tables/index.ts').Dataset> | undefined;
  const open = () => (ds ??= tables().then((t) => t.openDataset(store, path)));
  return {
    partitions: async (options) => (await open()).partitions(options),
    read: async (options) => (await open()).read(options),
    readPartition: async (partition, options) => (await open()).readPartition(partition, options),
    manifest: async () => (await open()).manifest(),
    schema: async () => (await open()).schema(),
  };
}

/**
 * The configured datastores: stores by name, the read order and the write
 * target from recc.datastores.yaml, then RECC_DATASTORES_* (read once).
 */
export const datastores = {
  /** The resolved configuration, with where each setting came from. */
  config: async (): Promise<DatastoresConfig> => (await import('../adapters/datastores/load-config.ts')).datastoresConfig(),
  /** A configured store by name; an unknown name is DatastoreConfigError naming the known ones. */
  get: async (name: string): Promise<Datastore> => (await tables()).resolveStore(name),
  /** The stores reads fall through, first to last. */
  readOrder: async (): Promise<Datastore[]> => (await import('../adapters/tables/stores.ts')).storeRegistry().readOrder(),
  /** The store writes go to. */
  writeTarget: async (): Promise<Datastore> => (await import('../adapters/tables/stores.ts')).storeRegistry().writeTarget(),
  /** A store from an explicit configuration, outside the file. */
  open: async (name: string, config: StoreConfig): Promise<Datastore> => (await import('../adapters/datastores/open.ts')).openStore(name, config),
};
