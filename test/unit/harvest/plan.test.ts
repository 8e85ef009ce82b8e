import { describe, expect, it } from 'vitest';
import { planHarvest, reapAt, reasonCode } from '../../../shared/harvest/plan.ts';
import { DEFAULT_HARVEST_CONFIG, type HarvestConfig } from '../../../shared/harvest/types.ts';
import { healthyObservation, recordAt, running } from '../../support/harvest-fixtures.ts';
import { t } from '../../support/cluster-records.ts';

const config: HarvestConfig = { ...DEFAULT_HARVEST_CONFIG };
const at = (minutes: number): number => Date.parse(t(minutes));

const obs = healthyObservation;

describe('Function: planHarvest', () => {
  describe('Rule: idle', () => {
    it('reaps a RUNNING cluster with reason idle when nothing happened for idleTimeoutMinutes', () => {
      // Prepare
      const record = running({ id: 'c-1', runningAt: 2, spec: { idleTimeoutMinutes: 5 } });

      // Act
      const actions = planHarvest([record], { observations: { 'c-1': obs('c-1') }, backendClusters: [{ clusterId: 'c-1' }] }, at(7), config);

      // Assess
      expect(actions).toEqual([
        {
          kind: 'reap',
          reason: 'idle',
          clusterId: 'c-1',
          version: record.version,
          detail: `idle: no activity since ${t(2)} (idle timeout 5 min)`,
        },
      ]);
    });

    it('does not reap one minute before the idle timeout', () => {
      const record = running({ id: 'c-1', runningAt: 2, spec: { idleTimeoutMinutes: 5 } });
      const actions = planHarvest([record], { observations: { 'c-1': obs('c-1') }, backendClusters: [{ clusterId: 'c-1' }] }, at(6), config);
      expect(actions).toEqual([]);
    });

    it('does not reap while the scheduler reports tasks processing, however old the last activity', () => {
      const record = running({ id: 'c-1', spec: { idleTimeoutMinutes: 5, maxLifetimeHours: 48 } });
      const o = obs('c-1', { activity: { tasksProcessing: 3, clientsConnected: 0, lastActivityAt: t(1) } });
      const actions = planHarvest([record], { observations: { 'c-1': o }, backendClusters: [{ clusterId: 'c-1' }] }, at(600), config);
      expect(actions.map((a) => a.kind)).toEqual(['record-activity']);
      expect(actions[0]).toMatchObject({ kind: 'record-activity', at: t(600) });
    });

    it('does not reap while a client is connected', () => {
      const record = running({ id: 'c-1', spec: { idleTimeoutMinutes: 5 } });
      const o = obs('c-1', { activity: { tasksProcessing: 0, clientsConnected: 1 } });
      const actions = planHarvest([record], { observations: { 'c-1': o }, backendClusters: [] }, at(60), config);
      expect(actions.filter((a) => a.kind === 'reap')).toEqual([]);
    });

    it('counts scheduler-reported activity and copies it onto the record', () => {
      const record = running({ id: 'c-1', spec: { idleTimeoutMinutes: 5 } });
      const o = obs('c-1', { activity: { tasksProcessing: 0, clientsConnected: 0, lastActivityAt: t(57) } });
      const actions = planHarvest([record], { observations: { 'c-1': o }, backendClusters: [] }, at(60), config);
      expect(actions).toEqual([
        { kind: 'record-activity', reason: 'scheduler-activity', clusterId: 'c-1', at: t(57), detail: 'scheduler reported activity' },
      ]);
    });

    it('counts API calls recorded as lastActivityAt', () => {
      const record = { ...running({ id: 'c-1', spec: { idleTimeoutMinutes: 5 } }), lastActivityAt: t(58) };
      const actions = planHarvest([record], { observations: { 'c-1': obs('c-1') }, backendClusters: [] }, at(60), config);
      expect(actions).toEqual([]);
    });

    it('uses the default idle timeout when the spec has none', () => {
      const record = running({ id: 'c-1', spec: { idleTimeoutMinutes: 0 } });
      const before = planHarvest([record], { observations: { 'c-1': obs('c-1') }, backendClusters: [] }, at(29), config);
      const after = planHarvest([record], { observations: { 'c-1': obs('c-1') }, backendClusters: [] }, at(30), config);
      expect(before).toEqual([]);
      expect(after.map((a) => [a.kind, a.reason])).toEqual([['reap', 'idle']]);
    });

    it('does not apply the idle rule when the cluster could not be observed', () => {
      const record = running({ id: 'c-1', spec: { idleTimeoutMinutes: 5 } });
      const actions = planHarvest([record], { observations: {}, backendClusters: [{ clusterId: 'c-1' }] }, at(120), config);
      expect(actions).toEqual([]);
    });
  });

  describe('Rule: client lease', () => {
    it('reaps with lease-expired when heartbeats stopped for the lease while nothing ran', () => {
      const record = { ...running({ id: 'c-1', spec: { idleTimeoutMinutes: 60 } }), lastHeartbeatAt: t(20), lastActivityAt: t(20) };
      const actions = planHarvest([record], { observations: { 'c-1': obs('c-1') }, backendClusters: [] }, at(30), config);
      expect(actions).toHaveLength(1);
      expect(actions[0]).toMatchObject({ kind: 'reap', reason: 'lease-expired' });
      expect(actions[0]?.detail).toBe(`lease-expired: no client heartbeat since ${t(20)} and no activity since ${t(20)} (lease 10 min)`);
    });

    it('keeps a leased cluster whose tasks still run', () => {
      const record = { ...running({ id: 'c-1', spec: { idleTimeoutMinutes: 60 } }), lastHeartbeatAt: t(20), lastActivityAt: t(20) };
      const o = obs('c-1', { activity: { tasksProcessing: 1, clientsConnected: 0 } });
      const actions = planHarvest([record], { observations: { 'c-1': o }, backendClusters: [] }, at(45), config);
      expect(actions.filter((a) => a.kind === 'reap')).toEqual([]);
    });

    it('never applies the lease to a cluster that never had a heartbeat', () => {
      const record = { ...running({ id: 'c-1', spec: { idleTimeoutMinutes: 60 } }), lastActivityAt: t(20) };
      const actions = planHarvest([record], { observations: { 'c-1': obs('c-1') }, backendClusters: [] }, at(45), config);
      expect(actions).toEqual([]);
    });
  });

  describe('Rule: max lifetime', () => {
    it('reaps a busy cluster older than maxLifetimeHours', () => {
      const record = running({ id: 'c-1', spec: { maxLifetimeHours: 2 } });
      const o = obs('c-1', { activity: { tasksProcessing: 5, clientsConnected: 1 } });
      const actions = planHarvest([record], { observations: { 'c-1': o }, backendClusters: [] }, at(120), config);
      expect(actions.map((a) => [a.kind, a.reason])).toEqual([['reap', 'max-lifetime']]);
    });

    it('applies even when the cluster could not be observed', () => {
      const record = running({ id: 'c-1', spec: { maxLifetimeHours: 1 } });
      const actions = planHarvest([record], { observations: {}, backendClusters: [] }, at(61), config);
      expect(actions.map((a) => a.reason)).toEqual(['max-lifetime']);
    });
  });

  describe('Rule: scheduler unreachable', () => {
    it('remembers when the scheduler first stopped answering', () => {
      const record = running({ id: 'c-1' });
      const o = obs('c-1', { schedulerReachable: false, activity: undefined });
      const actions = planHarvest([record], { observations: { 'c-1': o }, backendClusters: [] }, at(5), config);
      expect(actions).toEqual([
        {
          kind: 'mark-unreachable',
          reason: 'scheduler-unreachable',
          clusterId: 'c-1',
          version: record.version,
          since: t(5),
          detail: 'the scheduler did not answer; counting towards scheduler-unreachable',
        },
      ]);
    });

    it('reaps after schedulerUnreachableMinutes even when heartbeats keep coming', () => {
      const record = { ...running({ id: 'c-1' }), schedulerUnreachableSince: t(5), lastHeartbeatAt: t(15), lastActivityAt: t(15) };
      const o = obs('c-1', { schedulerReachable: false, activity: undefined });
      const early = planHarvest([record], { observations: { 'c-1': o }, backendClusters: [] }, at(14), config);
      const late = planHarvest([record], { observations: { 'c-1': o }, backendClusters: [] }, at(15), config);
      expect(early).toEqual([]);
      expect(late.map((a) => [a.kind, a.reason])).toEqual([['reap', 'scheduler-unreachable']]);
    });

    it('forgets the mark when the scheduler answers again', () => {
      const record = { ...running({ id: 'c-1' }), schedulerUnreachableSince: t(5) };
      const actions = planHarvest([record], { observations: { 'c-1': obs('c-1') }, backendClusters: [] }, at(9), config);
      expect(actions.map((a) => a.kind)).toEqual(['clear-unreachable']);
    });
  });

  describe('Rule: vanished and failed resources', () => {
    it('fails a RUNNING cluster whose resources are gone', () => {
      const record = running({ id: 'c-1' });
      const actions = planHarvest([record], { observations: { 'c-1': obs('c-1', { exists: false }) }, backendClusters: [] }, at(3), config);
      expect(actions).toEqual([
        {
          kind: 'fail',
          reason: 'resources-vanished',
          clusterId: 'c-1',
          version: record.version,
          detail: 'resources-vanished: the backend holds nothing for this RUNNING cluster (processes, pods or namespace are gone)',
        },
      ]);
    });

    it('fails a RUNNING cluster whose processes were killed, naming the component', () => {
      const record = running({ id: 'c-1' });
      const o = obs('c-1', {
        schedulerReachable: false,
        failures: [{ component: 'scheduler', reason: 'ProcessExited', message: 'exited with signal SIGKILL', permanent: true }],
      });
      const actions = planHarvest([record], { observations: { 'c-1': o }, backendClusters: [{ clusterId: 'c-1' }] }, at(3), config);
      expect(actions).toEqual([
        {
          kind: 'fail',
          reason: 'component-failed',
          clusterId: 'c-1',
          version: record.version,
          detail: 'component-failed: scheduler ProcessExited: exited with signal SIGKILL',
        },
      ]);
    });

    it('ignores transient failures', () => {
      const record = running({ id: 'c-1' });
      const o = obs('c-1', { failures: [{ component: 'worker', reason: 'Pending', message: 'waiting for a node', permanent: false }] });
      expect(planHarvest([record], { observations: { 'c-1': o }, backendClusters: [] }, at(3), config)).toEqual([]);
    });
  });

  describe('Rule: provisioning and deleting deadlines', () => {
    it('fails a cluster stuck in PROVISIONING past the deadline', () => {
      const { record } = recordAt('PROVISIONING', { id: 'c-1', provisioningAt: 1 });
      const before = planHarvest([record], { observations: {}, backendClusters: [] }, at(20), config);
      const after = planHarvest([record], { observations: {}, backendClusters: [] }, at(21), config);
      expect(before).toEqual([]);
      expect(after).toEqual([
        {
          kind: 'fail',
          reason: 'provisioning-deadline',
          clusterId: 'c-1',
          version: record.version,
          detail: 'provisioning-deadline: still PROVISIONING after 20 min (deadline 20 min)',
        },
      ]);
    });

    it('fails a cluster stuck in REQUESTED past the deadline', () => {
      const { record } = recordAt('REQUESTED', { id: 'c-1' });
      const actions = planHarvest([record], { observations: {}, backendClusters: [] }, at(25), config);
      expect(actions.map((a) => [a.kind, a.reason])).toEqual([['fail', 'provisioning-deadline']]);
    });

    it('finishes a delete left in DELETING past the deadline', () => {
      const record = { ...running({ id: 'c-1' }), status: 'DELETING' as const, updatedAt: t(10) };
      expect(planHarvest([record], { observations: {}, backendClusters: [] }, at(24), config)).toEqual([]);
      expect(planHarvest([record], { observations: {}, backendClusters: [] }, at(25), config).map((a) => a.kind)).toEqual(['finish-delete']);
    });
  });

  describe('Rule: orphans', () => {
    it('tears down backend resources that have no live record, once each', () => {
      const record = running({ id: 'c-1' });
      const ended = { ...running({ id: 'c-2' }), status: 'DELETED' as const, endedAt: t(1) };
      const actions = planHarvest(
        [record, ended],
        {
          observations: { 'c-1': obs('c-1') },
          backendClusters: [{ clusterId: 'c-1' }, { clusterId: 'c-2' }, { clusterId: 'c-9', owner: 'bob', namespace: 'recc-bob-9' }, { clusterId: 'c-9' }],
        },
        at(2),
        config,
      );
      expect(actions).toEqual([
        { kind: 'teardown-orphan', reason: 'orphan', clusterId: 'c-2', detail: 'backend resources have no live cluster record' },
        {
          kind: 'teardown-orphan',
          reason: 'orphan',
          clusterId: 'c-9',
          owner: 'bob',
          namespace: 'recc-bob-9',
          detail: 'backend resources in recc-bob-9 have no live cluster record',
        },
      ]);
    });
  });

  it('gives the same actions when run twice on the same state', () => {
    const records = [running({ id: 'c-1', spec: { idleTimeoutMinutes: 5 } }), running({ id: 'c-2' })];
    const observed = { observations: { 'c-1': obs('c-1'), 'c-2': obs('c-2', { exists: false }) }, backendClusters: [{ clusterId: 'c-3' }] };
    expect(planHarvest(records, observed, at(10), config)).toEqual(planHarvest(records, observed, at(10), config));
  });
});

describe('Function: reapAt', () => {
  it('returns the idle deadline from the last activity', () => {
    const record = { ...running({ id: 'c-1', runningAt: 3, spec: { idleTimeoutMinutes: 15 } }), lastActivityAt: t(10) };
    expect(reapAt(record, config)).toEqual({ at: t(25), reason: 'idle' });
  });

  it('returns the lease deadline when it comes first', () => {
    const record = { ...running({ id: 'c-1', spec: { idleTimeoutMinutes: 60 } }), lastHeartbeatAt: t(10), lastActivityAt: t(10) };
    expect(reapAt(record, config)).toEqual({ at: t(20), reason: 'lease-expired' });
  });

  it('returns the max-lifetime end when it comes first', () => {
    const record = { ...running({ id: 'c-1', spec: { idleTimeoutMinutes: 600, maxLifetimeHours: 1 } }) };
    expect(reapAt(record, config)).toEqual({ at: t(60), reason: 'max-lifetime' });
  });

  it('is undefined for clusters that are not RUNNING', () => {
    expect(reapAt(recordAt('PROVISIONING', { id: 'c-1' }).record, config)).toBeUndefined();
  });
});

describe('Function: reasonCode', () => {
  it('returns the code before the colon', () => {
    expect(reasonCode('idle: no activity since x')).toBe('idle');
    expect(reasonCode('lease-expired')).toBe('lease-expired');
    expect(reasonCode(undefined)).toBeUndefined();
  });
});
