import type { ClusterDefinition, ClusterSecrets } from '../../shared/definition/types.ts';
import type { BackendStartTimes } from '../../shared/lifecycle/types.ts';
import type { BackendClusterRef, ComponentFailure, ComputeBackend, Observation } from '../../shared/ports/compute-backend.ts';
import { BackendUnavailableError } from '../../shared/ports/errors.ts';

/**
 * A scripted, in-memory ComputeBackend that passes the conformance suite.
 * It models what real backends do over time: a cluster becomes ready after a
 * few observations, a teardown can take a few observations to finish, and a
 * worker whose env holds `RECC_FAKE_FAIL=<text>` crash-loops with that text
 * in its log tail. Tests can make it unavailable, hook into apply, and read
 * every call it received.
 */
export interface FakeBackendOptions {
  /** Observations of an applied cluster before it reports ready. @default 2 */
  readyAfterObserves?: number;
  /** Observations after teardown before the cluster is gone. @default 0 */
  goneAfterObserves?: number;
}

interface FakeCluster {
  definition: ClusterDefinition;
  secrets: ClusterSecrets;
  workersDesired: number;
  observes: number;
  tearingDown: boolean;
  teardownObserves: number;
  port: number;
}

export interface FakeCall {
  op: 'apply' | 'observe' | 'scale' | 'teardown' | 'list' | 'readSecrets';
  clusterId?: string;
  nWorkers?: number;
}

export class FakeComputeBackend implements ComputeBackend {
  readonly kind = 'fake';
  readonly calls: FakeCall[] = [];
  /** When set, every operation throws BackendUnavailableError (a transient outage). */
  unavailable = false;
  /** Start milestones a ready observation reports (as the real backends do once ready). */
  startTimes?: BackendStartTimes;
  /** Runs inside apply before the cluster is stored (e.g. to land a delete concurrently). */
  onApply?: (definition: ClusterDefinition) => Promise<void> | void;
  private readonly clusters = new Map<string, FakeCluster>();
  private readonly readyAfter: number;
  private readonly goneAfter: number;
  private nextPort = 40000;

  constructor(options: FakeBackendOptions = {}) {
    this.readyAfter = options.readyAfterObserves ?? 2;
    this.goneAfter = options.goneAfterObserves ?? 0;
  }

  private check(): void {
    if (this.unavailable) throw new BackendUnavailableError('fake backend is unavailable');
  }

  async apply(definition: ClusterDefinition, secrets: ClusterSecrets): Promise<void> {
    this.calls.push({ op: 'apply', clusterId: definition.clusterId });
    this.check();
    await this.onApply?.(definition);
    const existing = this.clusters.get(definition.clusterId);
    if (existing && !existing.tearingDown) {
      existing.definition = definition;
      return;
    }
    this.nextPort += 1;
    this.clusters.set(definition.clusterId, {
      definition,
      secrets,
      workersDesired: definition.workers.replicas,
      observes: 0,
      tearingDown: false,
      teardownObserves: 0,
      port: this.nextPort,
    });
  }

  async observe(clusterId: string): Promise<Observation> {
    this.calls.push({ op: 'observe', clusterId });
    this.check();
    const c = this.clusters.get(clusterId);
    const none: Observation = { clusterId, exists: false, schedulerReady: false, workersDesired: 0, workersRegistered: 0, ready: false, failures: [] };
    if (!c) return none;
    if (c.tearingDown) {
      c.teardownObserves += 1;
      if (c.teardownObserves > this.goneAfter) {
        this.clusters.delete(clusterId);
        return none;
      }
      return { ...none, exists: true, workersDesired: c.workersDesired };
    }
    c.observes += 1;
    const failText = c.definition.workers.env.find((e) => e.name === 'RECC_FAKE_FAIL')?.value;
    const failures: ComponentFailure[] = [];
    const schedulerReady = c.observes >= this.readyAfter;
    let workersRegistered = schedulerReady ? c.workersDesired : 0;
    if (failText !== undefined && c.observes >= this.readyAfter) {
      workersRegistered = 0;
      failures.push({
        component: 'worker',
        reason: 'CrashLoopBackOff',
        message: 'the worker exits at start',
        logTail: `starting worker\n${failText}`,
        permanent: true,
      });
    }
    const ready = schedulerReady && failures.length === 0 && workersRegistered >= c.workersDesired;
    return {
      clusterId,
      exists: true,
      schedulerReady,
      workersDesired: c.workersDesired,
      workersRegistered,
      ready,
      failures,
      ...(ready && this.startTimes ? { startTimes: this.startTimes } : {}),
      schedulerAddress: `tls://127.0.0.1:${c.port}`,
      dashboardUrl: `http://127.0.0.1:${c.port + 1}`,
      activity: { tasksProcessing: 0, clientsConnected: 0 },
      schedulerReachable: schedulerReady,
    };
  }

  async scale(clusterId: string, nWorkers: number): Promise<void> {
    this.calls.push({ op: 'scale', clusterId, nWorkers });
    this.check();
    const c = this.clusters.get(clusterId);
    if (c && !c.tearingDown) c.workersDesired = nWorkers;
  }

  async teardown(clusterId: string): Promise<void> {
    this.calls.push({ op: 'teardown', clusterId });
    this.check();
    const c = this.clusters.get(clusterId);
    if (!c) return;
    if (this.goneAfter === 0) this.clusters.delete(clusterId);
    else c.tearingDown = true;
  }

  async list(): Promise<BackendClusterRef[]> {
    this.calls.push({ op: 'list' });
    this.check();
    return [...this.clusters.values()].map((c) => ({ clusterId: c.definition.clusterId, owner: c.definition.owner, namespace: c.definition.namespace }));
  }

  async readSecrets(clusterId: string): Promise<ClusterSecrets | undefined> {
    this.calls.push({ op: 'readSecrets', clusterId });
    this.check();
    return this.clusters.get(clusterId)?.secrets;
  }

  /** Test helper: does the backend hold anything for this cluster (a teardown in progress included)? */
  holds(clusterId: string): boolean {
    return this.clusters.has(clusterId);
  }

  /** Test helper: does the backend hold the cluster with no teardown requested? */
  holdsLive(clusterId: string): boolean {
    const c = this.clusters.get(clusterId);
    return c !== undefined && !c.tearingDown;
  }

  /** Test helper: remove a cluster behind recc's back (e.g. someone deleted the namespace). */
  vanish(clusterId: string): void {
    this.clusters.delete(clusterId);
  }

  count(op: FakeCall['op'], clusterId?: string): number {
    return this.calls.filter((c) => c.op === op && (clusterId === undefined || c.clusterId === clusterId)).length;
  }
}
