import { beforeEach, describe, expect, it } from 'vitest';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { runHarvester, type HarvesterDeps } from '../../../control/harvester.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { createLogger } from '../../../shared/core/logger.ts';
import { reasonCode } from '../../../shared/harvest/plan.ts';
import { DEFAULT_HARVEST_CONFIG } from '../../../shared/harvest/types.ts';
import { assertHistoryInvariants, revise, transition } from '../../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import { ObservedBackend } from '../../fakes/observed-backend.ts';
import { t } from '../../support/cluster-records.ts';
import { recordAt, type RecordAt } from '../../support/harvest-fixtures.ts';

/**
 * The harvester use case end to end over the real in-memory store, the
 * in-memory queue and a scripted backend, with an injected clock. Times are
 * minutes after 2026-01-01T00:00:00Z.
 */
describe('Function: runHarvester', () => {
  let store: InMemoryClusterStore;
  let backend: ObservedBackend;
  let clock: ManualClock;
  let logs: Record<string, unknown>[];
  let deps: HarvesterDeps;

  beforeEach(() => {
    store = new InMemoryClusterStore();
    backend = new ObservedBackend();
    clock = new ManualClock(Date.parse(t(0)));
    logs = [];
    deps = {
      store,
      backend,
      clock,
      config: DEFAULT_HARVEST_CONFIG,
      logger: createLogger({ level: 'debug', write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>), now: () => clock.now() }),
    };
  });

  /** Store a cluster through its real transitions up to `status`, and give it backend resources. */
  async function storeAt(status: 'PROVISIONING' | 'RUNNING', input: RecordAt): Promise<ClusterRecord> {
    const { history } = recordAt(status, input);
    const requested = recordAt('REQUESTED', input).record;
    let current = (await store.create(requested, history[0]!)).record;
    for (const change of history.slice(1)) {
      const { next, change: c } = transition(current, change.to, { actor: change.actor, at: change.at });
      current = await store.put(next, current.version, c);
    }
    backend.add(current.id, { owner: current.owner, namespace: current.namespace });
    return current;
  }
  const startCluster = (input: RecordAt): Promise<ClusterRecord> => storeAt('RUNNING', input);

  it('reaps an idle cluster with reason idle, tears it down and leaves an active one alone', async () => {
    // Prepare: both RUNNING at minute 2 with a 5-minute idle timeout; c-busy has a task running.
    await startCluster({ id: 'c-idle', runningAt: 2, spec: { idleTimeoutMinutes: 5 } });
    await startCluster({ id: 'c-busy', runningAt: 2, spec: { idleTimeoutMinutes: 5 } });
    backend.setActivity('c-busy', { tasksProcessing: 1, clientsConnected: 0, lastActivityAt: t(3) });
    clock.set(Date.parse(t(6)));
    const early = await runHarvester(deps);
    expect(early.reaped).toEqual([]);

    // Act
    clock.set(Date.parse(t(8)));
    const report = await runHarvester(deps);

    // Assess
    expect(report.reaped).toEqual([{ clusterId: 'c-idle', reason: 'idle' }]);
    const idle = await store.get('c-idle');
    expect(idle?.status).toBe('DELETED');
    expect(reasonCode(idle?.statusReason)).toBe('idle');
    expect(idle?.statusReason).toBe(`idle: no activity since ${t(2)} (idle timeout 5 min)`);
    expect(backend.has('c-idle')).toBe(false);
    const history = await store.history('c-idle');
    assertHistoryInvariants(history, idle);
    expect(history.slice(-2).map((c) => [c.from, c.to, c.actor, reasonCode(c.reason)])).toEqual([
      ['RUNNING', 'DELETING', 'harvester', 'idle'],
      ['DELETING', 'DELETED', 'harvester', 'idle'],
    ]);
    expect((await store.get('c-busy'))?.status).toBe('RUNNING');
    expect(backend.has('c-busy')).toBe(true);
    expect(logs.find((l) => l.message === 'harvester reap')).toMatchObject({ clusterId: 'c-idle', reason: 'idle', outcome: 'done' });
  });

  it('keeps a cluster alive with the activity the scheduler reports and stores it on the record', async () => {
    await startCluster({ id: 'c-1', runningAt: 0, spec: { idleTimeoutMinutes: 5 } });
    backend.setActivity('c-1', { tasksProcessing: 0, clientsConnected: 0, lastActivityAt: t(4) });
    clock.set(Date.parse(t(8)));

    const report = await runHarvester(deps);

    expect(report.reaped).toEqual([]);
    expect((await store.get('c-1'))?.lastActivityAt).toBe(t(4));
    clock.set(Date.parse(t(9)));
    expect((await runHarvester(deps)).reaped).toEqual([{ clusterId: 'c-1', reason: 'idle' }]);
  });

  it('hands a reaped cluster to the provisioner through the queue when one is given', async () => {
    const queue = new InMemoryWorkQueue();
    await startCluster({ id: 'c-1', spec: { idleTimeoutMinutes: 1 } });
    clock.set(Date.parse(t(2)));

    await runHarvester({ ...deps, queue });

    const record = await store.get('c-1');
    expect(record?.status).toBe('DELETING');
    expect(reasonCode(record?.statusReason)).toBe('idle');
    expect(queue.messages).toEqual([{ clusterId: 'c-1', cause: 'delete-requested' }]);
    expect(backend.has('c-1')).toBe(true);
    expect(record?.cost?.toDate).toBeCloseTo((2 / 60) * record!.plan.costPerHour, 9);
  });

  it('removes an orphan (backend resources without a record)', async () => {
    await startCluster({ id: 'c-1' });
    backend.add('c-orphan', { owner: 'mallory', namespace: 'recc-mallory-orphan' });
    clock.set(Date.parse(t(1)));

    const report = await runHarvester(deps);

    expect(report.orphansRemoved).toEqual(['c-orphan']);
    expect(backend.has('c-orphan')).toBe(false);
    expect(backend.has('c-1')).toBe(true);
    expect(backend.teardowns).toEqual(['c-orphan']);
  });

  it('removes what a DELETED record still holds on the backend', async () => {
    const r = await startCluster({ id: 'c-1' });
    const d = transition(r, 'DELETING', { actor: 'alice', at: t(1) });
    const deleting = await store.put(d.next, r.version, d.change);
    const e = transition(deleting, 'DELETED', { actor: 'provisioner', at: t(1) });
    await store.put(e.next, deleting.version, e.change);
    clock.set(Date.parse(t(2)));

    const report = await runHarvester(deps);

    expect(report.orphansRemoved).toEqual(['c-1']);
    expect(backend.has('c-1')).toBe(false);
  });

  it('fails a cluster whose processes were killed, with the reason, and tears down what is left', async () => {
    await startCluster({ id: 'c-1' });
    backend.kill('c-1');
    clock.set(Date.parse(t(1)));

    const report = await runHarvester(deps);

    expect(report.failed).toEqual([{ clusterId: 'c-1', reason: 'component-failed' }]);
    const record = await store.get('c-1');
    expect(record?.status).toBe('FAILED');
    expect(record?.statusReason).toBe('component-failed: scheduler ProcessExited: the scheduler process exited (signal SIGKILL)');
    expect(record?.endedAt).toBe(t(1));
    expect(backend.has('c-1')).toBe(false);
    assertHistoryInvariants(await store.history('c-1'), record);
  });

  it('fails a RUNNING cluster whose resources vanished', async () => {
    await startCluster({ id: 'c-1' });
    backend.vanish('c-1');
    clock.set(Date.parse(t(1)));

    const report = await runHarvester(deps);

    expect(report.failed).toEqual([{ clusterId: 'c-1', reason: 'resources-vanished' }]);
    expect(reasonCode((await store.get('c-1'))?.statusReason)).toBe('resources-vanished');
  });

  it('reaps a cluster whose scheduler stays unreachable, although its client keeps sending heartbeats', async () => {
    await startCluster({ id: 'c-1', spec: { idleTimeoutMinutes: 60 } });
    backend.setReachable('c-1', false);
    for (const minute of [1, 6, 10]) {
      clock.set(Date.parse(t(minute)));
      await store.touch('c-1', { heartbeatAt: t(minute), activityAt: t(minute) });
      expect((await runHarvester(deps)).reaped).toEqual([]);
    }
    expect((await store.get('c-1'))?.schedulerUnreachableSince).toBe(t(1));

    clock.set(Date.parse(t(11)));
    await store.touch('c-1', { heartbeatAt: t(11), activityAt: t(11) });
    const report = await runHarvester(deps);

    expect(report.reaped).toEqual([{ clusterId: 'c-1', reason: 'scheduler-unreachable' }]);
    expect((await store.get('c-1'))?.status).toBe('DELETED');
  });

  it('clears the unreachable mark when the scheduler answers again', async () => {
    await startCluster({ id: 'c-1', spec: { idleTimeoutMinutes: 60 } });
    backend.setReachable('c-1', false);
    clock.set(Date.parse(t(1)));
    await runHarvester(deps);
    backend.setReachable('c-1', true);
    clock.set(Date.parse(t(12)));

    await runHarvester(deps);

    const record = await store.get('c-1');
    expect(record?.status).toBe('RUNNING');
    expect(record?.schedulerUnreachableSince).toBeUndefined();
  });

  it('fails a cluster stuck in PROVISIONING past the deadline and removes its resources', async () => {
    await storeAt('PROVISIONING', { id: 'c-1', provisioningAt: 0 });
    clock.set(Date.parse(t(25)));

    const report = await runHarvester(deps);

    expect(report.failed).toEqual([{ clusterId: 'c-1', reason: 'provisioning-deadline' }]);
    expect((await store.get('c-1'))?.status).toBe('FAILED');
    expect(backend.has('c-1')).toBe(false);
  });

  it('does nothing more when run again on the same state', async () => {
    await startCluster({ id: 'c-idle', spec: { idleTimeoutMinutes: 1 } });
    backend.add('c-orphan');
    clock.set(Date.parse(t(5)));
    await runHarvester(deps);
    const versions = (await store.listAll()).map((r) => [r.id, r.version]);

    const again = await runHarvester(deps);

    expect(again.actions).toEqual([]);
    expect((await store.listAll()).map((r) => [r.id, r.version])).toEqual(versions);
  });

  it('re-plans after losing a race and leaves a cluster alone when the plan no longer applies', async () => {
    // Prepare: the cluster is idle, but between the harvester's read and its write the owner
    // scales it (a versioned write) and uses it (activity).
    const r = await startCluster({ id: 'c-1', spec: { idleTimeoutMinutes: 5 } });
    clock.set(Date.parse(t(10)));
    const racing: ClusterStore = wrapPut(store, async () => {
      const current = (await store.get('c-1'))!;
      await store.put(revise(current, { at: t(10), patch: { desiredWorkers: 3, lastActivityAt: t(10) } }), current.version);
    });

    // Act
    const report = await runHarvester({ ...deps, store: racing });

    // Assess
    expect(report.actions).toMatchObject([{ kind: 'reap', outcome: 'skipped' }]);
    const record = await store.get('c-1');
    expect(record?.status).toBe('RUNNING');
    expect(record?.version).toBe(r.version + 1);
    expect(backend.has('c-1')).toBe(true);
  });

  it('still reconciles other clusters when one observation fails, and orphans when list fails', async () => {
    await startCluster({ id: 'c-1', spec: { idleTimeoutMinutes: 1 } });
    await startCluster({ id: 'c-2', spec: { idleTimeoutMinutes: 1 } });
    backend.observeFails.add('c-2');
    backend.listFails = true;
    clock.set(Date.parse(t(3)));

    const report = await runHarvester(deps);

    expect(report.reaped).toEqual([{ clusterId: 'c-1', reason: 'idle' }]);
    expect(report.observeErrors.map((e) => e.clusterId)).toEqual(['c-2']);
    expect(report.listError).toMatch(/unavailable/);
    expect((await store.get('c-2'))?.status).toBe('RUNNING');
  });

  it('keeps the warm capacity each run, and a failure there is reported and logged without stopping the run (issue 19 #5)', async () => {
    // Prepare: a backend with warm capacity whose first reconcile fails.
    await startCluster({ id: 'c-1', spec: { idleTimeoutMinutes: 1 } });
    let calls = 0;
    const warmBackend = Object.assign(backend, {
      reconcileCapacity: async () => {
        calls += 1;
        if (calls === 1) throw new Error('Auto Scaling throttled');
        return ['arathe-c5-xlarge-nodegroup'];
      },
    });
    clock.set(Date.parse(t(3)));

    // Act
    const first = await runHarvester({ ...deps, backend: warmBackend });
    const second = await runHarvester({ ...deps, backend: warmBackend });

    // Assess
    expect(first.capacityError).toMatch(/throttled/);
    expect(first.reaped).toEqual([{ clusterId: 'c-1', reason: 'idle' }]);
    expect(logs.some((l) => l.message === 'keeping the warm capacity failed')).toBe(true);
    expect(second).toMatchObject({ warmGroups: ['arathe-c5-xlarge-nodegroup'] });
    expect(second.capacityError).toBeUndefined();
  });
});

type ClusterStore = InMemoryClusterStore;

/** The store, with `before` run once right before the first `put` (a concurrent writer). */
function wrapPut(store: InMemoryClusterStore, before: () => Promise<void>): InMemoryClusterStore {
  let done = false;
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'put') {
        return async (...args: Parameters<InMemoryClusterStore['put']>) => {
          if (!done) {
            done = true;
            await before();
          }
          return target.put(...args);
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
