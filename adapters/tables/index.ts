/**
 * recc's table layer, the one place readers and writers are exported from:
 * `readTable`/`writeTable` (Parquet, Arrow IPC, CSV, JSON lines over any
 * Datastore) and partitioned datasets (`openDataset`, `writeDataset`).
 */
export { readTable, readTableInfo, decodeTable, type ReadTableInfo, type ReadTableOptions } from './read.ts';
export { writeTable, encodeTable, type WriteTableOptions } from './write.ts';
export { decodeIpc, encodeIpcFile, encodeIpcStream } from './ipc.ts';
export { toArrowTable, type TableLike } from './convert.ts';
export { resolveStore, type StoreRef } from './stores.ts';
export {
  openDataset, writeDataset, readPartitionJob, writeDatasetPartJob, commitDataset, newWriteId, type DatasetPieces, type WritePartJob, Dataset, type DatasetPartition, type DatasetReadOptions, type WriteDatasetOptions, type PartitionJob, type StoreSpec,
} from '../datastores/dataset.ts';
export { CorruptDataError, SchemaMismatchError, TableOptionsError, UnsupportedColumnTypeError } from '../../shared/tables/errors.ts';
export type { TableFormat } from '../../shared/tables/formats.ts';
export type { Where, Condition, Scalar } from '../../shared/tables/where.ts';
export type { Manifest } from '../../shared/tables/manifest.ts';
/** Apache Arrow as recc loads it, for task code that builds tables (worker threads offer this module; see worker/thread.ts). */
export * as arrow from 'apache-arrow';
