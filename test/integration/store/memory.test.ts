import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { clusterStoreConformance } from '../../conformance/cluster-store.ts';

clusterStoreConformance('in-memory', async () => ({ store: new InMemoryClusterStore() }));
