import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planHarvest } from '../../../shared/harvest/plan.ts';
import type { HarvestConfig } from '../../../shared/harvest/types.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import { healthyObservation, running } from '../../support/harvest-fixtures.ts';
import { t } from '../../support/cluster-records.ts';

/**
 * Property: the harvester never reaps an active cluster.
 *
 * A random trace of what happens to one RUNNING cluster (API calls, client
 * heartbeats, tasks starting and finishing, clients connecting and
 * leaving) is replayed up to a random `now` the way recc records it: API
 * calls and heartbeats touch the record (`lastActivityAt`, heartbeats also
 * `lastHeartbeatAt`); tasks and clients are what the scheduler reports in
 * its observation. "Active" is defined from the trace alone, independently
 * of the planner: a task is running or a client is connected, or something
 * happened within the idle timeout — or, for a cluster whose client ever
 * sent a heartbeat, within the shorter of the idle timeout and the lease.
 * The converse (an inactive cluster is reaped) is checked too, so the
 * property cannot pass by never reaping.
 */
type EventType = 'api' | 'heartbeat' | 'task-start' | 'task-finish' | 'client-connect' | 'client-disconnect';
interface TraceEvent {
  minute: number;
  type: EventType;
}

const RUNNING_AT = 5;

function replay(events: TraceEvent[], now: number) {
  const sorted = events.filter((e) => e.minute <= now).sort((a, b) => a.minute - b.minute);
  let tasks = 0;
  let clients = 0;
  let lastApi: number | undefined;
  let lastHeartbeat: number | undefined;
  let lastScheduler: number | undefined;
  let lastAny = RUNNING_AT;
  for (const e of sorted) {
    switch (e.type) {
      case 'api':
        lastApi = e.minute;
        break;
      case 'heartbeat':
        lastHeartbeat = e.minute;
        break;
      case 'task-start':
        tasks += 1;
        lastScheduler = e.minute;
        break;
      case 'task-finish':
        if (tasks === 0) continue;
        tasks -= 1;
        lastScheduler = e.minute;
        break;
      case 'client-connect':
        clients += 1;
        lastScheduler = e.minute;
        break;
      case 'client-disconnect':
        if (clients === 0) continue;
        clients -= 1;
        lastScheduler = e.minute;
        break;
    }
    lastAny = Math.max(lastAny, e.minute);
  }
  return { tasks, clients, lastApi, lastHeartbeat, lastScheduler, lastAny };
}

const eventArb = fc.record({
  minute: fc.integer({ min: RUNNING_AT, max: 600 }),
  type: fc.constantFrom<EventType>('api', 'heartbeat', 'task-start', 'task-finish', 'client-connect', 'client-disconnect'),
});

const caseArb = fc.record({
  events: fc.array(eventArb, { maxLength: 40 }),
  now: fc.integer({ min: RUNNING_AT, max: 700 }),
  idle: fc.integer({ min: 1, max: 120 }),
  lease: fc.integer({ min: 1, max: 60 }),
});

function scenario(c: { events: TraceEvent[]; now: number; idle: number; lease: number }) {
  const s = replay(c.events, c.now);
  const base = running({ id: 'c-p', createdAt: 0, provisioningAt: 1, runningAt: RUNNING_AT, spec: { idleTimeoutMinutes: c.idle, maxLifetimeHours: 48 } });
  const touched = Math.max(...[s.lastApi, s.lastHeartbeat].filter((x): x is number => x !== undefined), 0);
  const record: ClusterRecord = {
    ...base,
    lastActivityAt: t(touched),
    ...(s.lastHeartbeat !== undefined ? { lastHeartbeatAt: t(s.lastHeartbeat) } : {}),
  };
  const observation = healthyObservation('c-p', {
    activity: {
      tasksProcessing: s.tasks,
      clientsConnected: s.clients,
      ...(s.lastScheduler !== undefined ? { lastActivityAt: t(s.lastScheduler) } : {}),
    },
  });
  const config: HarvestConfig = {
    defaultIdleTimeoutMinutes: 30,
    leaseTimeoutMinutes: c.lease,
    schedulerUnreachableMinutes: 10,
    provisioningDeadlineMinutes: 20,
    deletingDeadlineMinutes: 15,
  };
  const window = s.lastHeartbeat !== undefined ? Math.min(c.idle, c.lease) : c.idle;
  const active = s.tasks > 0 || s.clients > 0 || c.now - s.lastAny < window;
  const actions = planHarvest([record], { observations: { 'c-p': observation }, backendClusters: [{ clusterId: 'c-p' }] }, Date.parse(t(c.now)), config);
  return { active, reaps: actions.filter((a) => a.kind === 'reap' || a.kind === 'fail') };
}

describe('Property: the harvester never reaps an active cluster', () => {
  it('plans no reap for a cluster that is active at now, over random activity traces', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { active, reaps } = scenario(c);
        if (active) expect(reaps).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });

  it('reaps a cluster that is not active at now (so the property above is not vacuous)', () => {
    let inactiveSeen = 0;
    fc.assert(
      fc.property(caseArb, (c) => {
        const { active, reaps } = scenario(c);
        if (!active) {
          inactiveSeen += 1;
          expect(reaps).toHaveLength(1);
        }
      }),
      { numRuns: 2000 },
    );
    expect(inactiveSeen).toBeGreaterThan(100);
  });
});
