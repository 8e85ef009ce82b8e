import type { ClusterDefinition, ClusterSecrets } from '../../shared/definition/types.ts';
import type {
  BackendClusterRef,
  ClusterActivity,
  ComponentFailure,
  ComputeBackend,
  Observation,
} from '../../shared/ports/compute-backend.ts';
import { BackendUnavailableError } from '../../shared/ports/errors.ts';

/**
 * A scripted ComputeBackend for harvester tests: the test sets what each
 * cluster's scheduler reports (activity, reachability, failures), kills its
 * processes or removes it, and plants orphans. Teardowns are recorded.
 * Every operation is idempotent like a real backend's.
 */
interface Held {
  ref: BackendClusterRef;
  workersDesired: number;
  workersRegistered: number;
  activity?: ClusterActivity;
  reachable: boolean;
  failures: ComponentFailure[];
}

export class ObservedBackend implements ComputeBackend {
  readonly kind = 'observed-fake';
  private readonly held = new Map<string, Held>();
  /** Every teardown call, in order (including of unknown ids). */
  readonly teardowns: string[] = [];
  /** Cluster ids whose `observe` throws (a backend hiccup). */
  readonly observeFails = new Set<string>();
  /** When true, `list` throws. */
  listFails = false;

  async apply(definition: ClusterDefinition, _secrets: ClusterSecrets): Promise<void> {
    if (this.held.has(definition.clusterId)) return;
    this.add(definition.clusterId, { owner: definition.owner, namespace: definition.namespace, workers: definition.workers.replicas });
  }

  async observe(clusterId: string): Promise<Observation> {
    if (this.observeFails.has(clusterId)) throw new BackendUnavailableError(`observe ${clusterId}: backend unavailable`);
    const h = this.held.get(clusterId);
    if (!h) {
      return { clusterId, exists: false, schedulerReady: false, workersDesired: 0, workersRegistered: 0, ready: false, failures: [] };
    }
    const schedulerReady = h.reachable && !h.failures.some((f) => f.component === 'scheduler');
    return {
      clusterId,
      exists: true,
      schedulerReady,
      workersDesired: h.workersDesired,
      workersRegistered: h.workersRegistered,
      ready: schedulerReady && h.workersRegistered >= h.workersDesired,
      failures: h.failures.map((f) => ({ ...f })),
      schedulerAddress: `tcp://127.0.0.1:${40000 + (hash(clusterId) % 1000)}`,
      ...(h.reachable && h.activity ? { activity: { ...h.activity } } : {}),
      schedulerReachable: h.reachable,
    };
  }

  async scale(clusterId: string, nWorkers: number): Promise<void> {
    const h = this.held.get(clusterId);
    if (h) {
      h.workersDesired = nWorkers;
      h.workersRegistered = nWorkers;
    }
  }

  async teardown(clusterId: string): Promise<void> {
    this.teardowns.push(clusterId);
    this.held.delete(clusterId);
  }

  async list(): Promise<BackendClusterRef[]> {
    if (this.listFails) throw new BackendUnavailableError('list: backend unavailable');
    return [...this.held.values()].map((h) => ({ ...h.ref }));
  }

  // ---- scripting ----

  /** Hold resources for a cluster (a running one, or an orphan when no record exists). */
  add(clusterId: string, options: { owner?: string; namespace?: string; workers?: number; activity?: ClusterActivity } = {}): void {
    const workers = options.workers ?? 2;
    this.held.set(clusterId, {
      ref: {
        clusterId,
        ...(options.owner !== undefined ? { owner: options.owner } : {}),
        ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
      },
      workersDesired: workers,
      workersRegistered: workers,
      activity: options.activity ?? { tasksProcessing: 0, clientsConnected: 0 },
      reachable: true,
      failures: [],
    });
  }

  /** What the scheduler reports from now on. */
  setActivity(clusterId: string, activity: ClusterActivity): void {
    this.require(clusterId).activity = { ...activity };
  }

  setReachable(clusterId: string, reachable: boolean): void {
    this.require(clusterId).reachable = reachable;
  }

  /** The cluster's processes were killed: the backend still knows it, every component exited. */
  kill(clusterId: string): void {
    const h = this.require(clusterId);
    h.reachable = false;
    h.workersRegistered = 0;
    h.failures = [
      { component: 'scheduler', reason: 'ProcessExited', message: 'the scheduler process exited (signal SIGKILL)', permanent: true },
    ];
  }

  /** Everything for the cluster vanished (namespace deleted out of band). */
  vanish(clusterId: string): void {
    this.held.delete(clusterId);
  }

  has(clusterId: string): boolean {
    return this.held.has(clusterId);
  }

  private require(clusterId: string): Held {
    const h = this.held.get(clusterId);
    if (!h) throw new Error(`ObservedBackend: no cluster ${clusterId}`);
    return h;
  }
}

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h;
}
