import { StoreRegistry } from '../datastores/open.ts';
import { datastoresConfig } from '../datastores/load-config.ts';
import type { Datastore } from '../../shared/datastores/port.ts';

/** A Datastore, or the name of a configured one (`'S3'`, `'FP_LOCAL'`; see recc.datastores.yaml). */
export type StoreRef = Datastore | string;

let registry: StoreRegistry | undefined;

/** The store a StoreRef names; an unknown name is DatastoreConfigError naming the configured stores. */
export function resolveStore(ref: StoreRef): Datastore {
  if (typeof ref !== 'string') return ref;
  return storeRegistry().get(ref);
}

/** The process-wide registry of configured stores (config read once). */
export function storeRegistry(): StoreRegistry {
  registry ??= new StoreRegistry(datastoresConfig());
  return registry;
}
