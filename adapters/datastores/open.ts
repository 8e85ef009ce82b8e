import { storeConfig, type DatastoresConfig, type StoreConfig } from '../../shared/datastores/config.ts';
import type { Datastore } from '../../shared/datastores/port.ts';
import { LocalDatastore } from './local.ts';
import { S3Datastore } from './s3.ts';

/** Builds the adapter for one configured store. */
export function openStore(name: string, config: StoreConfig): Datastore {
  if (config.type === 'local') return new LocalDatastore(name, config.root);
  return new S3Datastore(name, { bucket: config.bucket, prefix: config.prefix, region: config.region, endpoint: config.endpoint });
}

/** One adapter per name, built on first use. */
export class StoreRegistry {
  private readonly open = new Map<string, Datastore>();
  constructor(readonly config: DatastoresConfig) {}
  get(name: string): Datastore {
    let s = this.open.get(name);
    if (!s) {
      s = openStore(name, storeConfig(this.config, name));
      this.open.set(name, s);
    }
    return s;
  }
  readOrder(): Datastore[] {
    return this.config.read.map((n) => this.get(n));
  }
  writeTarget(): Datastore {
    return this.get(this.config.write);
  }
}
