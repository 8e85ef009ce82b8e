import { ReccError } from '../../shared/core/errors.ts';
import type { Clock } from '../../shared/core/clock.ts';
import type { ClusterDefinition, ClusterSecrets } from '../../shared/definition/types.ts';
import { planHarvest } from '../../shared/harvest/plan.ts';
import { DEFAULT_HARVEST_CONFIG, type HarvestAction } from '../../shared/harvest/types.ts';
import type { ClusterRecord } from '../../shared/lifecycle/types.ts';
import type { BackendClusterRef, ComputeBackend, Observation, ScaleOptions } from '../../shared/ports/compute-backend.ts';
import type { AsgFaultName } from '../fakes/asg-model.ts';
import type { ImagePullError } from '../fakes/k8s-image-pull.ts';
import { ApiStatusError, resourceByPlural } from '../fakes/k8s-store.ts';
import { splitApiPath } from '../fakes/k8s-api-server.ts';
import { running } from './harvest-fixtures.ts';
import { startEksStack, type EksStack } from './eks-stack.ts';

/**
 * The EKS chaos world (issue 22): the strict fake Kubernetes API server, the
 * Auto Scaling model and the EKS access model with every controller delay,
 * reordering, transient fault and throttle drawn from one seeded PRNG, so a
 * seed replays the same schedule of faults (the interleaving with real
 * timers can still differ; a failing seed is re-run with
 * `RECC_CHAOS_SEED=<n>`).
 *
 * Time runs `speed` times faster than the wall clock for the fake, the
 * Auto Scaling model, the backend and the harvester plan alike, so the real
 * durations (a 45 s load balancer, a 90 s node join, 10 min of scheduler
 * silence before a reap) pass in a fraction of a second.
 *
 * `ChaosBackend` wraps the EKS backend for the ComputeBackend conformance
 * suite and checks the issue's invariants on every call:
 * - **no false FAILED**: an observation of a cluster whose workers were not
 *   made to fail carries no permanent failure, and apply is never refused
 *   with an error the provisioner treats as permanent (an exposable
 *   ReccError);
 * - **no reap while healthy**: from its first ready observation until its
 *   teardown, a cluster is a RUNNING record, and every observation is run
 *   through the harvester's own plan (`planHarvest`, with the backend's
 *   `list()` for orphans); a `reap`, `fail` or `teardown-orphan` of it is a
 *   violation. The plan's bookkeeping actions (mark/clear unreachable,
 *   record activity) are applied to the record, as the harvester does;
 * - **nothing left behind** (`leftovers()`): after the suite, no managed
 *   namespace, pod or Node, no Auto Scaling group with desired capacity or
 *   an instance in service, no access entry.
 * Errors the provisioner would meet with a redelivery (anything but an
 * exposable ReccError) are retried here the same way, and counted.
 */

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A clock `speed` times faster than the wall clock, from a fixed epoch. */
export class FastClock implements Clock {
  private readonly startReal = Date.now();
  constructor(
    readonly speed: number,
    private readonly epoch = Date.UTC(2026, 0, 1),
  ) {}
  now(): number {
    return this.epoch + Math.floor((Date.now() - this.startReal) * this.speed);
  }
}

export interface ChaosProfile {
  /** Probability a Kubernetes API request is throttled by API Priority and Fairness (429, Retry-After: 1). */
  k8sThrottle: number;
  /** Probability a write (POST/PUT/DELETE) meets an unreachable etcd: 500 ServerTimeout, Retry-After: 2. */
  k8sServerTimeout: number;
  /** Probability another writer (a controller's status update) changes the object between a read and a PUT (409 Conflict). */
  k8sConflict: number;
  /** Probability an Auto Scaling call is answered with a fault (drawn among those the call documents). */
  asgFault: number;
  /** Probability a cluster's scheduler and/or workers meet transient image-pull errors. */
  imagePull: number;
  /** Probability a served write's answer is lost: committed, then answered 500 ServerTimeout (`loseAnswer`). */
  k8sLostAnswer: number;
  /** Probability an EKS access-entry call meets ThrottlingException or ServerException (before or after being served). */
  eksFault: number;
}

export interface ChaosStats {
  seed: number;
  profile: ChaosProfile;
  k8sRequests: number;
  k8s429: number;
  k8s500: number;
  k8sConflicts: number;
  k8sLostAnswers: number;
  asgFaults: Record<string, number>;
  eksFaults: Record<string, number>;
  imagePullRules: number;
  observations: number;
  harvestPlans: number;
  /** Calls the provisioner would have redelivered (a non-exposable error), by method. */
  redeliveries: Record<string, number>;
}

export interface ChaosViolation {
  seed: number;
  clusterId: string;
  kind: 'false-failed' | 'apply-refused' | 'reaped-healthy' | 'gave-up';
  detail: string;
}

export interface ChaosWorld {
  seed: number;
  stack: EksStack;
  clock: FastClock;
  stats: ChaosStats;
  violations: ChaosViolation[];
  /** The EKS backend behind the invariant checks. */
  backend(): ChaosBackend;
  /** Clusters whose workers are made to fail on purpose: a permanent failure is right for them. */
  readonly mayFail: Set<string>;
  /** Transient image-pull errors for this definition's pods, drawn from the seed (call before apply). */
  injectImagePulls(definition: ClusterDefinition): void;
  /** What is left after every cluster was torn down (waits for finalizers and terminations first). */
  leftovers(timeoutMs?: number): Promise<string[]>;
  close(): Promise<void>;
}

const ASG_FAULTS: AsgFaultName[] = ['Throttling', 'ScalingActivityInProgressFault', 'ResourceContentionFault'];
const PULL_ERRORS: ImagePullError[] = ['TooManyRequests', 'Timeout', 'Unauthorized', 'NotFound'];

/** Path → (resource, namespace, name) for the paths the backend writes. */
function objectOf(pathname: string): { plural: string; group: string; version: string; namespace?: string; name?: string } | undefined {
  const split = splitApiPath(pathname);
  if (!split) return undefined;
  const { group, version, namespace, rest } = split;
  if (rest.length < 1 || rest.length > 2 || !rest[0]) return undefined;
  return { plural: rest[0], group, version, ...(namespace ? { namespace } : {}), ...(rest[1] ? { name: rest[1] } : {}) };
}

export async function startChaosWorld(seed: number, options: { speed?: number; profile?: Partial<ChaosProfile> } = {}): Promise<ChaosWorld> {
  const rnd = prng(seed);
  const between = (lo: number, hi: number) => lo + rnd() * (hi - lo);
  // Faults added later draw from their own stream, so each seed keeps the schedule it had before them.
  const rnd2 = prng(seed ^ 0x5bd1e995);
  const between2 = (lo: number, hi: number) => lo + rnd2() * (hi - lo);
  const speed = options.speed ?? 100;
  const clock = new FastClock(speed);
  // Each seed draws its own intensity, so the 50 seeds cover calm and stormy runs.
  const profile: ChaosProfile = {
    k8sThrottle: between(0.01, 0.08),
    k8sServerTimeout: between(0.01, 0.08),
    k8sConflict: between(0.05, 0.3),
    asgFault: between(0.02, 0.2),
    imagePull: between(0.2, 0.7),
    k8sLostAnswer: between2(0.01, 0.05),
    eksFault: between2(0.02, 0.2),
    ...options.profile,
  };
  const stats: ChaosStats = {
    seed,
    profile,
    k8sRequests: 0,
    k8s429: 0,
    k8s500: 0,
    k8sConflicts: 0,
    k8sLostAnswers: 0,
    asgFaults: {},
    eksFaults: {},
    imagePullRules: 0,
    observations: 0,
    harvestPlans: 0,
    redeliveries: {},
  };
  const violations: ChaosViolation[] = [];

  const stack = await startEksStack({
    now: () => clock.now(),
    latency: true,
    latencySeed: seed,
    // Real durations (simulated time): EKS node join, image pull and start, NLB provisioning, SIGTERM handling.
    timing: {
      podExitMs: () => between(500, 30_000),
      podStartMs: () => between(1_000, 25_000),
      loadBalancerMs: () => between(10_000, 240_000),
      nodeReadyMs: () => between(20_000, 90_000),
      schedulerBackoff: true,
    },
    asg: {
      fault: () => (rnd() < profile.asgFault ? ASG_FAULTS[Math.floor(rnd() * ASG_FAULTS.length)] : undefined),
      terminatingMs: between(30_000, 120_000),
      describeLagMs: between(0, 5_000),
    },
    fake: { namespaceFinalizeMs: Math.floor(between(0, 50)) },
    // client-go's waits (Retry-After) pass at the same speed as the rest of the world.
    kubeSleep: (ms) => new Promise((r) => setTimeout(r, Math.max(1, ms / speed))),
  });
  const { fake } = stack;
  // The controllers run as time passes (the fake's own ticker only runs with the real clock).
  const ticker = setInterval(() => fake.tick(), 10);
  ticker.unref();

  fake.throttle = () => {
    stats.k8sRequests += 1;
    if (rnd() >= profile.k8sThrottle) return false;
    stats.k8s429 += 1;
    return true;
  };
  fake.beforeRequest = (method, path) => {
    if (method === 'GET') return;
    if (rnd() < profile.k8sServerTimeout) {
      const verb = method === 'POST' ? 'create' : method === 'PUT' ? 'update' : 'delete';
      const o = objectOf(path);
      const resource = o ? (o.group ? `${o.plural}.${o.group}` : o.plural) : 'unknown';
      stats.k8s500 += 1;
      // An unreachable etcd: k8s.io/apiserver pkg/storage/errors/storage.go `InterpretCreateError` (and the
      // update/delete ones) → apierrors.NewServerTimeout(resource, verb, 2): 500, reason ServerTimeout,
      // details.retryAfterSeconds 2 (the fake turns that into a Retry-After header, as writers.go does).
      throw new ApiStatusError(500, 'ServerTimeout', `The ${verb} operation against ${resource} could not be completed at this time, please try again.`, {
        name: verb,
        group: o?.group ?? '',
        kind: o?.plural ?? '',
        retryAfterSeconds: 2,
      });
    }
  };
  const before = fake.beforeRequest;
  fake.beforeRequest = (method, path) => {
    before(method, path);
    if (method !== 'PUT' || rnd() >= profile.k8sConflict) return;
    // Another writer got there first (the deployment controller's status, the namespace controller, kubectl):
    // the object's resourceVersion moves on, so this replace is a 409 Conflict.
    const o = objectOf(path);
    const r = o ? resourceByPlural(o.group, o.version, o.plural) : undefined;
    if (!o?.name || !r) return;
    const current = fake.store.get(r, o.namespace, o.name);
    if (!current) return;
    fake.store.save(r, current);
    stats.k8sConflicts += 1;
  };

  fake.loseAnswer = (method, path) => {
    if (rnd2() >= profile.k8sLostAnswer) return undefined;
    stats.k8sLostAnswers += 1;
    const verb = method === 'POST' ? 'create' : method === 'PUT' ? 'update' : 'delete';
    const o = objectOf(path);
    // The same ServerTimeout as above, but after etcd committed the write (see FakeKubeApiServer.loseAnswer).
    return new ApiStatusError(500, 'ServerTimeout', `The ${verb} operation against ${o?.plural ?? 'unknown'} could not be completed at this time, please try again.`, {
      name: verb,
      group: o?.group ?? '',
      kind: o?.plural ?? '',
      retryAfterSeconds: 2,
    });
  };
  stack.eks.fault = () => {
    if (rnd2() >= profile.eksFault) return undefined;
    const r = rnd2();
    return r < 0.5 ? { name: 'ThrottlingException' } : { name: 'ServerException', committed: r >= 0.75 };
  };

  const world: ChaosWorld = {
    seed,
    stack,
    clock,
    stats,
    violations,
    mayFail: new Set(),
    backend: () => new ChaosBackend(world, stack.makeBackend({}, { clock })),
    injectImagePulls(definition) {
      if (rnd() >= profile.imagePull) return;
      const components = rnd() < 0.5 ? ['scheduler', 'worker'] : [rnd() < 0.5 ? 'scheduler' : 'worker'];
      for (const component of components) {
        const error = PULL_ERRORS[Math.floor(rnd() * PULL_ERRORS.length)] ?? 'Timeout';
        // A registry hiccup clears after a few pulls; a tag missing for a moment (a push still replicating)
        // clears before the backend's three not-found pulls call it missing.
        const failures = error === 'NotFound' ? 1 + Math.floor(rnd() * 2) : 1 + Math.floor(rnd() * 4);
        fake.kubelet.addRule({ match: { namespace: definition.namespace, component }, failure: { kind: 'ImagePull', error, failures } });
        stats.imagePullRules += 1;
      }
    },
    async leftovers(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      let found: string[] = [];
      for (;;) {
        found = [];
        for (const ns of fake.objects('Namespace')) if (ns.metadata.labels?.['recc.io/managed-by']) found.push(`namespace ${ns.metadata.name}`);
        for (const p of fake.objects('Pod')) found.push(`pod ${p.metadata.namespace}/${p.metadata.name}`);
        for (const n of fake.objects('Node')) found.push(`node ${n.metadata.name}`);
        for (const name of stack.asg.groupNames()) {
          const g = stack.asg.group(name);
          if (g && g.desired > 0) found.push(`auto scaling group ${name} desired ${g.desired}`);
          for (const i of g?.instances ?? []) if (i.LifecycleState === 'InService') found.push(`instance ${i.InstanceId} of ${name} in service`);
        }
        for (const arn of stack.eks.entries.keys()) found.push(`access entry ${arn}`);
        if (found.length === 0 || Date.now() > deadline) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      clearInterval(ticker);
      for (const [name, n] of stack.asg.faultCounts) stats.asgFaults[name] = n;
      for (const [name, n] of stack.eks.faultCounts) stats.eksFaults[name] = n;
      await stack.close();
    },
  };
  return world;
}

const PERMANENT = (err: unknown) => err instanceof ReccError && err.exposable;

/**
 * The EKS backend as the provisioner and harvester drive it, with the chaos
 * run's invariants checked on every call (see the module comment).
 */
export class ChaosBackend implements ComputeBackend {
  readonly kind = 'eks';
  /** RUNNING records of clusters seen ready and not torn down since. */
  private readonly records = new Map<string, ClusterRecord>();

  constructor(
    private readonly world: ChaosWorld,
    readonly inner: ComputeBackend,
  ) {}

  private violation(clusterId: string, kind: ChaosViolation['kind'], detail: string): void {
    this.world.violations.push({ seed: this.world.seed, clusterId, kind, detail });
  }

  /** The provisioner's answer to an error: a permanent refusal fails the cluster; anything else is redelivered. */
  private async redelivered<T>(what: string, clusterId: string, call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await call();
      } catch (err) {
        if (PERMANENT(err)) throw err;
        this.world.stats.redeliveries[what] = (this.world.stats.redeliveries[what] ?? 0) + 1;
        if (attempt >= 5) {
          this.violation(clusterId, 'gave-up', `${what} failed ${attempt} times: ${(err as Error)?.message}`);
          throw err;
        }
      }
    }
  }

  async apply(definition: ClusterDefinition, secrets: ClusterSecrets): Promise<void> {
    try {
      await this.redelivered('apply', definition.clusterId, () => this.inner.apply(definition, secrets));
    } catch (err) {
      if (PERMANENT(err)) this.violation(definition.clusterId, 'apply-refused', (err as Error).message);
      throw err;
    }
  }

  async observe(clusterId: string): Promise<Observation> {
    const observation = await this.redelivered('observe', clusterId, () => this.inner.observe(clusterId));
    this.world.stats.observations += 1;
    const permanent = observation.failures.filter((f) => f.permanent);
    if (permanent.length > 0 && !this.world.mayFail.has(clusterId)) {
      this.violation(clusterId, 'false-failed', `${permanent.map((f) => `${f.component} ${f.reason}: ${f.message}`).join('; ')} [${this.capacitySnapshot()}]`);
    }
    // The provisioner fails a ready cluster without connection details ("connection details missing").
    if (observation.ready && observation.schedulerAddress === undefined && !this.world.mayFail.has(clusterId)) {
      this.violation(clusterId, 'false-failed', 'ready without a scheduler address: the provisioner fails it with "connection details missing"');
    }
    if (observation.ready && !this.records.has(clusterId) && !this.world.mayFail.has(clusterId)) this.records.set(clusterId, this.runningRecord(clusterId));
    const record = this.records.get(clusterId);
    if (record) await this.harvest(record, observation);
    return observation;
  }

  /** The nodes and groups as the fake holds them now, for a violation's detail (a timing-dependent failure is read from it). */
  private capacitySnapshot(): string {
    const { stack, clock } = this.world;
    const t0 = clock.now();
    const nodes = stack.fake.objects('Node').map((n) => {
      const ready = (n.status?.conditions ?? []).find((c: any) => c.type === 'Ready');
      const since = ready?.lastTransitionTime ? Math.round((t0 - Date.parse(ready.lastTransitionTime)) / 1000) : '?';
      return `${n.metadata.name}${n.spec?.unschedulable ? ' cordoned' : ''} ready=${ready?.status ?? '?'} ${since}s`;
    });
    const groups = stack.asg.groupNames().map((name) => {
      const g = stack.asg.group(name);
      return `${name} desired=${g?.desired} ${(g?.instances ?? []).map((i) => `${i.InstanceId}:${i.LifecycleState}`).join(',')}`;
    });
    return `nodes: ${nodes.join('; ') || 'none'} | groups: ${groups.join('; ') || 'none'}`;
  }

  /** The RUNNING record the provisioner would have written now; idle and lifetime limits far away (only false reaps count). */
  private runningRecord(clusterId: string): ClusterRecord {
    const at = new Date(this.world.clock.now()).toISOString();
    const base = running({ id: clusterId, owner: 'arathe', spec: { idleTimeoutMinutes: 7 * 24 * 60, maxLifetimeHours: 7 * 24 } });
    return { ...base, createdAt: at, updatedAt: at, provisioningAt: at, runningAt: at, lastActivityAt: at };
  }

  private async harvest(record: ClusterRecord, observation: Observation): Promise<void> {
    const clusters: BackendClusterRef[] = await this.redelivered('list', record.id, () => this.inner.list());
    const now = this.world.clock.now();
    const actions: HarvestAction[] = planHarvest([record], { observations: { [record.id]: observation }, backendClusters: clusters }, now, DEFAULT_HARVEST_CONFIG);
    this.world.stats.harvestPlans += 1;
    for (const a of actions) {
      if (a.clusterId !== record.id) continue;
      if (a.kind === 'reap' || a.kind === 'fail' || a.kind === 'teardown-orphan') this.violation(record.id, 'reaped-healthy', `${a.kind}: ${a.detail}`);
      else if (a.kind === 'mark-unreachable') record.schedulerUnreachableSince = a.since;
      else if (a.kind === 'clear-unreachable') delete record.schedulerUnreachableSince;
      else if (a.kind === 'record-activity') record.lastActivityAt = a.at;
    }
  }

  async scale(clusterId: string, nWorkers: number, options?: ScaleOptions): Promise<void> {
    await this.redelivered('scale', clusterId, () => this.inner.scale(clusterId, nWorkers, options));
  }

  async teardown(clusterId: string): Promise<void> {
    // From here on the record is DELETING: the harvester no longer judges it.
    this.records.delete(clusterId);
    await this.redelivered('teardown', clusterId, () => this.inner.teardown(clusterId));
  }

  list(): Promise<BackendClusterRef[]> {
    return this.inner.list();
  }

  readSecrets(clusterId: string): Promise<ClusterSecrets | undefined> {
    return this.inner.readSecrets?.(clusterId) ?? Promise.resolve(undefined);
  }
}
