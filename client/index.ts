/**
 * The recc SDK (`import { Client, LocalCluster, delayed } from 'recc'`).
 */
export { Client, getClient, type ConnectOptions, type MapItem, type MapOptions, type StoryEntry, type WorkerInfo } from './client.ts';
export { LocalCluster, type LocalClusterOptions, type WorkerOptionsForAdd } from './local-cluster.ts';
export { Future, type FutureStatus } from './future.ts';
/** Distributed tables (partitioned Arrow tables on the workers) and their errors. */
export { DistributedTable, type Meta, type FromTableOptions, type FromPartitionsOptions, type ToTableOptions, type SetIndexOptions } from './tables/table.ts';
export type { GroupBy, AggRequest } from './tables/group-by.ts';
export { ColumnNotFoundError, TableArgumentError, TableReleasedError, TableTooLargeError } from './tables/errors.ts';
export type { ProgressEvent } from './client.ts';
export { Delayed, delayed, type TaskOptions } from './delayed.ts';
export { command, CommandFunction, ModuleFunction, ModuleHandle, type CommandOptions, type CommandResult, type TaskFunction } from './functions.ts';
export { asCompleted, progress, type CompletedFuture, type ProgressOptions } from './as-completed.ts';
export {
  TaskError, KilledWorkerError, NoClientError, CancelledError, InlineFunctionError, ClientClosedError, LocalClusterStartError, ModuleBundleError,
  ApiValidationError, ApiNotFoundError, ApiConflictError, ApiRequestError, ApiUnreachableError,
  ClusterFailedError, ClusterReadyTimeoutError, ClusterConnectionUnavailableError, SqsRouteUnavailableError,
} from './errors.ts';
/** Bad input to an SDK call (`map` options, `scatter`, …); `details` name each problem. */
export { ValidationError } from '../shared/core/errors.ts';
/** Task arguments or a result that cannot be sent (a function, symbol, WeakMap…); `details` name each path. */
export { SerializationError } from '../comm/errors.ts';
export { TcpTransport, type ClientTransport } from './transport.ts';
export type { ClusterLike } from './cluster-like.ts';
export * from './from-env.ts';
export * from './recc-cluster.ts';
/** Datastores and columnar tables: `readTable`/`writeTable` (Parquet, Arrow IPC, CSV, JSON lines), partitioned datasets. */
// Loaded on first use (client/tables-sdk.ts), so `import 'recc'` does not pay for the S3 client.
export { datastores, readTable, readTableInfo, writeTable, writeDataset, openDataset, type DatasetHandle } from './tables-sdk.ts';
export type { DatasetStoreRef } from './datasets.ts';
export { CorruptDataError, SchemaMismatchError, TableOptionsError, UnsupportedColumnTypeError } from '../shared/tables/errors.ts';
export type {
  ReadTableOptions, WriteTableOptions, DatasetPartition, DatasetReadOptions, WriteDatasetOptions, TableFormat, Where, Manifest, StoreRef,
} from '../adapters/tables/index.ts';
