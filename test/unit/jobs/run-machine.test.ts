import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  RUN_TRANSITIONS,
  assertRunHistoryInvariants,
  assertRunInvariants,
  canRunTransition,
  handleRunEvent,
  newRunRecord,
  nextRunEvent,
  retryDelaySeconds,
  transitionRun,
  type RunEvent,
  type RunPolicy,
} from '../../../shared/jobs/run-machine.ts';
import { InvalidRunTransitionError, RunInvariantError, RunMachineUsageError } from '../../../shared/jobs/errors.ts';
import { RUN_STATUSES, type RunRecord, type RunStatusChange } from '../../../shared/jobs/types.ts';

const T0 = Date.UTC(2026, 11, 4, 18, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const POLICY: RunPolicy = { deleteClusterOnSuccess: true, deleteClusterOnFailure: true, retryLimit: 0 };

function fresh(): { run: RunRecord; change: RunStatusChange } {
  return newRunRecord(
    { id: 'r-1', jobId: 'j-1', jobName: 'nightly', owner: 'alice', scheduledAt: iso(T0), trigger: 'schedule', at: iso(T0), ttlDays: 30 },
    { actor: 'scheduler', stimulusId: 'fire:1' },
  );
}

const EVENTS: RunEvent[] = [
  { type: 'start', stimulusId: 's', preRunningDeadline: iso(T0 + 600_000), activeDeadline: iso(T0 + 3_600_000) },
  { type: 'skip', stimulusId: 'k', reason: 'Forbid: run r-0 is still RUNNING' },
  { type: 'cluster-requested', stimulusId: 'c', clusterId: 'c-1' },
  { type: 'cluster-running', stimulusId: 'cr' },
  { type: 'driver-started', stimulusId: 'd', pid: 42 },
  { type: 'driver-exited', stimulusId: 'x0', exitCode: 0, signal: null, stderrTail: '' },
  { type: 'driver-exited', stimulusId: 'x1', exitCode: 3, signal: null, stderrTail: 'boom\nTraceback' },
  { type: 'cluster-lost', stimulusId: 'l', reason: 'cluster c-1 vanished' },
  { type: 'deadline', stimulusId: 'dl', which: 'active' },
  { type: 'deadline', stimulusId: 'dp', which: 'pre-running' },
  { type: 'cancel', stimulusId: 'cx', by: 'alice' },
  { type: 'cleaned', stimulusId: 'cl', logsRef: 'logs/r-1', cost: 0.12 },
];

describe('run transition table', () => {
  it('is frozen, covers every status, and only CLEANED follows an outcome', () => {
    expect(Object.isFrozen(RUN_TRANSITIONS)).toBe(true);
    for (const s of RUN_STATUSES) expect(Object.isFrozen(RUN_TRANSITIONS[s])).toBe(true);
    expect(Object.keys(RUN_TRANSITIONS).sort()).toEqual([...RUN_STATUSES].sort());
    for (const s of ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED'] as const) expect(RUN_TRANSITIONS[s]).toEqual(['CLEANED']);
    expect(RUN_TRANSITIONS.SKIPPED).toEqual([]);
    expect(RUN_TRANSITIONS.CLEANED).toEqual([]);
  });

  it('refuses a transition outside the table', () => {
    const { run } = fresh();
    expect(() => transitionRun(run, 'RUNNING', { actor: 'a', at: iso(T0), stimulusId: 's' })).toThrow(InvalidRunTransitionError);
  });

  it('needs a reason for FAILED, TIMED_OUT, CANCELLED and SKIPPED, and a stimulus id always', () => {
    const { run } = fresh();
    for (const to of ['FAILED', 'TIMED_OUT', 'CANCELLED', 'SKIPPED'] as const) {
      expect(() => transitionRun(run, to, { actor: 'a', at: iso(T0), stimulusId: 's' })).toThrow(RunMachineUsageError);
    }
    expect(() => transitionRun(run, 'PROVISIONING', { actor: 'a', at: iso(T0), stimulusId: '' })).toThrow(RunMachineUsageError);
  });

  it('records the outcome before CLEANED and keeps it after', () => {
    let { run } = fresh();
    const apply = (e: RunEvent) => {
      const step = handleRunEvent(run, e, POLICY, { actor: 'driver', at: iso(T0 + 1000) });
      if (step.kind === 'ignored') throw new Error(step.why);
      run = step.next;
      return step;
    };
    expect(apply(EVENTS[0] as RunEvent).instructions).toEqual([{ do: 'create-cluster' }]);
    apply(EVENTS[2] as RunEvent);
    expect(apply(EVENTS[3] as RunEvent).instructions).toEqual([{ do: 'start-driver' }]);
    apply(EVENTS[4] as RunEvent);
    const failed = apply(EVENTS[6] as RunEvent);
    expect(run.status).toBe('FAILED');
    expect(run.statusReason).toBe('the driver exited with status 3; stderr: boom | Traceback');
    expect(run.driver).toMatchObject({ exitCode: 3, pid: 42, stderrTail: 'boom\nTraceback' });
    // The driver already exited: copy its logs, delete the cluster, nothing to kill.
    expect(failed.instructions).toEqual([{ do: 'copy-logs' }, { do: 'delete-cluster' }]);
    apply(EVENTS[11] as RunEvent);
    expect(run).toMatchObject({ status: 'CLEANED', outcome: 'FAILED', logsRef: 'logs/r-1', cost: 0.12 });
    expect(run.statusReason).toContain('exited with status 3');
    assertRunInvariants(run);
  });

  it('kills the driver, copies logs and deletes the cluster on cancel and on timeout', () => {
    for (const e of [EVENTS[10], EVENTS[8]] as RunEvent[]) {
      let { run } = fresh();
      for (const ev of [EVENTS[0], EVENTS[2], EVENTS[3], EVENTS[4]] as RunEvent[]) {
        const s = handleRunEvent(run, ev, POLICY, { actor: 'd', at: iso(T0) });
        if (s.kind !== 'ignored') run = s.next;
      }
      const step = handleRunEvent(run, e, POLICY, { actor: 'd', at: iso(T0 + 5) });
      expect(step.kind).toBe('changed');
      if (step.kind === 'ignored') return;
      expect(step.instructions).toEqual([{ do: 'kill-driver' }, { do: 'copy-logs' }, { do: 'delete-cluster' }]);
    }
  });

  it('schedules a retry while attempts remain', () => {
    let { run } = fresh();
    const step0 = handleRunEvent(run, EVENTS[0] as RunEvent, POLICY, { actor: 'd', at: iso(T0) });
    if (step0.kind === 'ignored') throw new Error('ignored');
    run = step0.next;
    const step = handleRunEvent(run, EVENTS[9] as RunEvent, { ...POLICY, retryLimit: 2 }, { actor: 'd', at: iso(T0) });
    expect(step.kind === 'changed' && step.instructions).toEqual([{ do: 'schedule-retry', attempt: 2 }]);
    expect([2, 3, 4, 9].map((a) => retryDelaySeconds(a, { backoffSeconds: 60, maxBackoffSeconds: 300 }))).toEqual([60, 120, 240, 300]);
  });

  it('any sequence of events keeps the record and its history valid (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: EVENTS.length - 1 }), { maxLength: 20 }), fc.boolean(), (choices, keep) => {
        const { run: r0, change } = fresh();
        let run = r0;
        const history = [change];
        let t = T0;
        for (const i of choices) {
          t += 1000;
          const step = handleRunEvent(run, EVENTS[i] as RunEvent, { ...POLICY, deleteClusterOnFailure: !keep }, { actor: 'prop', at: iso(t) });
          if (step.kind === 'ignored') continue;
          expect(step.next.version).toBe(run.version + 1);
          if (step.kind === 'changed') {
            expect(canRunTransition(run.status, step.next.status)).toBe(true);
            history.push(step.change);
            // delete-cluster only for a run that has a cluster; kill-driver only after a driver could start.
            for (const ins of step.instructions) {
              if (ins.do === 'delete-cluster') expect(run.clusterId).toBeDefined();
              if (ins.do === 'kill-driver') expect(['SUBMITTING', 'RUNNING']).toContain(run.status);
            }
          }
          run = step.next;
          assertRunInvariants(run);
        }
        assertRunHistoryInvariants(history, run);
      }),
      { numRuns: 500 },
    );
  });

  it('the invariant checks catch broken records and histories', () => {
    const { run, change } = fresh();
    expect(() => assertRunInvariants({ ...run, status: 'SUCCEEDED' })).toThrow(RunInvariantError);
    expect(() => assertRunInvariants({ ...run, status: 'CLEANED', endedAt: iso(T0), cleanedAt: iso(T0) })).toThrow(/CLEANED without an outcome/);
    expect(() => assertRunHistoryInvariants([change, { ...change, from: 'PENDING', to: 'RUNNING', version: 2 }])).toThrow(/not legal/);
    expect(() => assertRunHistoryInvariants([{ ...change, stimulusId: '' }])).toThrow(/no stimulus id/);
  });
});

describe('nextRunEvent', () => {
  const base = (over: Partial<RunRecord>): RunRecord => ({ ...fresh().run, ...over });
  const obs = { now: T0 + 10_000, idleTimeoutMs: 60_000 };

  it('prefers a cancel, then a driver exit, then deadlines, then cluster progress', () => {
    const running = base({ status: 'RUNNING', clusterId: 'c-1', provisioningAt: iso(T0), runningAt: iso(T0), activeDeadline: iso(T0 + 5_000) });
    const exited = { running: false as const, exitCode: 0, signal: null, stderrTail: '' };
    expect(nextRunEvent({ ...running, cancelRequestedAt: iso(T0) }, { ...obs, driver: exited })?.type).toBe('cancel');
    expect(nextRunEvent(running, { ...obs, driver: exited })?.type).toBe('driver-exited');
    expect(nextRunEvent(running, { ...obs, driver: { running: true, lastOutputAt: T0 + 9_000 } })).toMatchObject({ type: 'deadline', which: 'active' });
    const prov = base({ status: 'PROVISIONING', clusterId: 'c-1', provisioningAt: iso(T0), preRunningDeadline: iso(T0 + 5_000) });
    expect(nextRunEvent(prov, { ...obs, cluster: 'PROVISIONING' })).toMatchObject({ type: 'deadline', which: 'pre-running' });
    expect(nextRunEvent(prov, { ...obs, now: T0 + 1000, cluster: 'RUNNING' })?.type).toBe('cluster-running');
    expect(nextRunEvent(prov, { ...obs, now: T0 + 1000, cluster: 'missing' })).toMatchObject({ type: 'cluster-lost', reason: "the run's cluster c-1 vanished" });
    expect(nextRunEvent(prov, { ...obs, now: T0 + 1000, cluster: 'PROVISIONING' })).toBeUndefined();
  });

  it('times out an idle driver', () => {
    const running = base({ status: 'RUNNING', clusterId: 'c-1', provisioningAt: iso(T0), runningAt: iso(T0) });
    expect(nextRunEvent(running, { now: T0 + 120_000, idleTimeoutMs: 60_000, driver: { running: true, lastOutputAt: T0 + 30_000 } })).toMatchObject({ which: 'idle' });
    expect(nextRunEvent(running, { now: T0 + 80_000, idleTimeoutMs: 60_000, driver: { running: true, lastOutputAt: T0 + 30_000 } })).toBeUndefined();
  });
});
