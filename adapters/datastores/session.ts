import type { ConfigLayer, DatastoresConfig } from '../../shared/datastores/config.ts';
import { FallThroughReader, FallThroughView, type FallThroughOptions } from '../../shared/datastores/fallthrough.ts';
import type { Datastore } from '../../shared/datastores/port.ts';
import { WriteBackCache } from './cache.ts';
import { datastoresConfig, loadDatastoresConfig } from './load-config.ts';
import { StoreRegistry } from './open.ts';

export interface OpenDatastoresOptions {
  /** A resolved configuration; default: the process-wide one (file < env), or one with `override` on top. */
  config?: DatastoresConfig;
  /** Per-call override, the last layer (e.g. `{ read: ['S3'] }`). */
  override?: ConfigLayer;
  onRead?: FallThroughOptions['onRead'];
  /** Reads in flight at once; default from the configuration. */
  concurrency?: number;
}

/**
 * The configured datastores, ready to use: each store by name, a reader
 * that falls through the read order (with the write-back cache when one is
 * configured) and the write target. `close()` saves the cache's index.
 */
export interface Datastores {
  readonly config: DatastoresConfig;
  store(name: string): Datastore;
  readonly reader: FallThroughReader;
  /** The read order as one Datastore (for readTable and datasets); writes go to the write target. */
  readonly view: FallThroughView;
  readonly writeTarget: Datastore;
  readonly cache: WriteBackCache | undefined;
  close(): Promise<void>;
}

export async function openDatastores(options: OpenDatastoresOptions = {}): Promise<Datastores> {
  const config = options.config ?? (options.override ? loadDatastoresConfig({ override: options.override }) : datastoresConfig());
  const registry = new StoreRegistry(config);
  const order = registry.readOrder();
  const writeTarget = registry.writeTarget();
  const cache = config.cache
    ? await WriteBackCache.open(registry.get(config.cache.store), { maxBytes: config.cache.maxBytes, revalidate: config.cache.revalidate })
    : undefined;
  const reader = new FallThroughReader(order, {
    ...(cache ? { cache } : {}),
    concurrency: options.concurrency ?? config.concurrency,
    ...(options.onRead ? { onRead: options.onRead } : {}),
  });
  return {
    config,
    store: (name) => registry.get(name),
    reader,
    view: new FallThroughView(reader, { writeTarget }),
    writeTarget,
    cache,
    close: async () => {
      await cache?.flush();
    },
  };
}

