import { InMemoryWorkQueue } from '../../adapters/queue/memory.ts';
import { InMemoryClusterStore } from '../../adapters/store/memory.ts';
import { Provisioner, type ProvisionerConfig } from '../../control/provisioner.ts';
import { ManualClock } from '../../shared/core/clock.ts';
import { silentLogger, type Logger } from '../../shared/core/logger.ts';
import { initialChange, newClusterRecord } from '../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../shared/lifecycle/types.ts';
import type { WorkQueue } from '../../shared/ports/work-queue.ts';
import type { ClusterSpec } from '../../shared/spec/types.ts';
import { FakeComputeBackend, type FakeBackendOptions } from '../fakes/compute-backend.ts';
import { planFixture, specFixture } from './local-stack-fixtures.ts';

/**
 * The real Provisioner over an in-memory store, the fake compute backend and
 * a manual clock, for provisioner, handler and reconcile tests. Secrets are
 * fixed strings; the token is `token-<clusterId>`.
 */
export interface ProvisionerWorld<Q extends WorkQueue> {
  store: InMemoryClusterStore;
  queue: Q;
  backend: FakeComputeBackend;
  clock: ManualClock;
  provisioner: Provisioner;
  /** The clock's time as ISO. */
  at(): string;
}

export interface ProvisionerWorldOptions<Q extends WorkQueue> extends FakeBackendOptions {
  /** @default an InMemoryWorkQueue */
  queue?: Q;
  /** @default 2026-11-27T09:00:00Z */
  startAt?: number;
  config?: Partial<ProvisionerConfig>;
  /** @default silentLogger */
  logger?: Logger;
}

export const WORLD_START = Date.UTC(2026, 10, 27, 9, 0, 0);

export function provisionerWorld(options?: ProvisionerWorldOptions<InMemoryWorkQueue>): ProvisionerWorld<InMemoryWorkQueue>;
export function provisionerWorld<Q extends WorkQueue>(options: ProvisionerWorldOptions<Q> & { queue: Q }): ProvisionerWorld<Q>;
export function provisionerWorld(options: ProvisionerWorldOptions<WorkQueue> = {}): ProvisionerWorld<WorkQueue> {
  const { queue = new InMemoryWorkQueue(), startAt = WORLD_START, config, logger = silentLogger, ...backendOptions } = options;
  const store = new InMemoryClusterStore();
  const backend = new FakeComputeBackend(backendOptions);
  const clock = new ManualClock(startAt);
  const provisioner = new Provisioner({
    store,
    queue,
    backend,
    clock,
    logger,
    generateSecrets: async (d) => ({ token: `token-${d.clusterId}`, caCertPem: 'CA PEM', caKeyPem: 'CA KEY', serverCertPem: 'CRT', serverKeyPem: 'KEY' }),
    ...(config ? { config } : {}),
  });
  return { store, queue, backend, clock, provisioner, at: () => new Date(clock.now()).toISOString() };
}

/** Store a new REQUESTED cluster (owner `arathe`, fixture spec and plan) created at the world's current time. */
export async function addRequested(
  w: ProvisionerWorld<WorkQueue>,
  id = 'c-000001',
  spec: Partial<ClusterSpec> = {},
): Promise<ClusterRecord> {
  const record = newClusterRecord({ id, owner: 'arathe', spec: specFixture(spec), plan: planFixture(), at: w.at() });
  const { record: stored } = await w.store.create(record, initialChange(record, { actor: 'arathe' }));
  return stored;
}
