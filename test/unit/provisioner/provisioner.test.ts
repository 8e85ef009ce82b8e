import { beforeEach, describe, expect, it } from 'vitest';
import { viewFor, type Caller } from '../../../control/clusters.ts';
import { describeFailure, tailLines, type ProvisionerConfig } from '../../../control/provisioner.ts';
import { transition, assertHistoryInvariants } from '../../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import { createLogger } from '../../../shared/core/logger.ts';
import { BackendUnavailableError } from '../../../shared/ports/errors.ts';
import type { ProvisionMessage, WorkQueue } from '../../../shared/ports/work-queue.ts';
import { addRequested, provisionerWorld, type ProvisionerWorld } from '../../support/provisioner-world.ts';

/** A queue that records messages; `drain` delivers them like SQS would, honouring delays on the manual clock. */
class RecordingQueue implements WorkQueue {
  readonly sent: Array<{ message: ProvisionMessage; delaySeconds: number }> = [];
  async send(message: ProvisionMessage, options: { delaySeconds?: number } = {}): Promise<void> {
    this.sent.push({ message, delaySeconds: options.delaySeconds ?? 0 });
  }
}

type World = ProvisionerWorld<RecordingQueue>;

function world(options: { readyAfterObserves?: number; goneAfterObserves?: number; config?: Partial<ProvisionerConfig> } = {}): World {
  return provisionerWorld({
    ...options,
    queue: new RecordingQueue(),
    config: { pollDelaySeconds: 3, provisioningTimeoutMs: 10 * 60_000, deletionTimeoutMs: 10 * 60_000, ...options.config },
  });
}

function requested(w: World, id = 'c-000001', env: Record<string, string> = {}): Promise<ClusterRecord> {
  return addRequested(w, id, { nWorkers: 2, env });
}

/** What the API does on DELETE: a conditional write to DELETING. */
async function requestDelete(w: World, id: string): Promise<void> {
  const current = await w.store.get(id);
  if (!current) throw new Error('missing');
  const { next, change } = transition(current, 'DELETING', { actor: 'arathe', at: w.at() });
  await w.store.put(next, current.version, change);
}

/** Deliver queued messages until none is left (or `max` steps), advancing the clock by each delay. */
async function drain(w: World, first: ProvisionMessage, max = 50): Promise<string[]> {
  const actions: string[] = [];
  const pending: ProvisionMessage[] = [first];
  while (pending.length > 0 && actions.length < max) {
    const message = pending.shift() as ProvisionMessage;
    const before = w.queue.sent.length;
    const result = await w.provisioner.handle(message);
    actions.push(result.action);
    for (const s of w.queue.sent.slice(before)) {
      w.clock.advance(s.delaySeconds * 1000);
      pending.push(s.message);
    }
  }
  return actions;
}

const created = (id: string): ProvisionMessage => ({ clusterId: id, cause: 'created' });

describe('Class: Provisioner', () => {
  let w: World;
  beforeEach(() => {
    w = world();
  });

  describe('Method: handle', () => {
    it('moves a REQUESTED cluster to PROVISIONING, applies it and re-queues with a delay instead of waiting', async () => {
      // Prepare
      await requested(w);

      // Act
      const result = await w.provisioner.handle(created('c-000001'));

      // Assess
      expect(result).toMatchObject({ action: 'applied', status: 'PROVISIONING', requeueAfterSeconds: 3 });
      expect((await w.store.get('c-000001'))?.status).toBe('PROVISIONING');
      expect(w.backend.count('apply')).toBe(1);
      expect(w.queue.sent).toEqual([{ message: { clusterId: 'c-000001', cause: 'requeue' }, delaySeconds: 3 }]);
    });

    it('logs each step with the cluster id, its user and its namespace (issue 21: lines about a cluster say whose it is)', async () => {
      // Prepare
      const lines: Array<Record<string, unknown>> = [];
      const logged = provisionerWorld({ queue: new RecordingQueue(), logger: createLogger({ write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }) });
      const record = await addRequested(logged);

      // Act
      await logged.provisioner.handle(created(record.id));

      // Assess
      expect(lines.find((l) => l.message === 'provisioner step')).toMatchObject({ clusterId: record.id, user: 'arathe', namespace: record.namespace, status: 'REQUESTED', action: 'applied' });
    });

    it('reaches RUNNING with the connection once the backend is ready', async () => {
      // Prepare
      await requested(w);

      // Act
      const actions = await drain(w, created('c-000001'));

      // Assess
      expect(actions).toEqual(['applied', 'waiting', 'running']);
      const record = await w.store.get('c-000001');
      expect(record?.status).toBe('RUNNING');
      expect(record?.connection).toEqual({
        schedulerAddress: expect.stringMatching(/^tls:\/\/127\.0\.0\.1:\d+$/),
        dashboardUrl: expect.stringMatching(/^http:/),
        token: 'token-c-000001',
        caPem: 'CA PEM',
      });
      assertHistoryInvariants(await w.store.history('c-000001'), record);
    });

    it('keeps the backend\'s start milestones on the record at RUNNING, so the API shows where the start time went', async () => {
      // Prepare: the backend saw the processes start between the apply and the ready observation.
      await requested(w);
      const createdAt = Date.parse((await w.store.get('c-000001'))!.createdAt);
      const iso = (ms: number) => new Date(createdAt + ms).toISOString();
      w.backend.startTimes = { podsCreatedAt: iso(100), schedulerReadyAt: iso(1_500), workersRegisteredAt: iso(2_500) };

      // Act
      await drain(w, created('c-000001'));

      // Assess
      const record = (await w.store.get('c-000001'))!;
      expect(record.startTimes).toEqual(w.backend.startTimes);
      const view = viewFor(record, { user: record.owner, admin: false } satisfies Caller);
      expect(view.startTimeline?.stages.map((s) => s.stage)).toEqual(['queue', 'provision', 'process start', 'connect', 'observe']);
      expect(view.startTimeline?.totalMs).toBe(Date.parse(record.runningAt!) - createdAt);
      expect(view.startTimeline?.stages.reduce((n, s) => n + s.ms, 0)).toBe(view.startTimeline?.totalMs);
    });

    it('applies only once when the same message is delivered twice', async () => {
      // Prepare
      await requested(w);

      // Act
      await w.provisioner.handle(created('c-000001'));
      await w.provisioner.handle(created('c-000001'));

      // Assess
      expect(w.backend.count('apply')).toBe(1);
      expect((await w.store.history('c-000001')).map((c) => c.to)).toEqual(['REQUESTED', 'PROVISIONING']);
    });

    it('tears down and ends DELETED when a delete arrives during PROVISIONING', async () => {
      // Prepare
      await requested(w);
      await w.provisioner.handle(created('c-000001'));

      // Act
      await requestDelete(w, 'c-000001');
      const actions = await drain(w, { clusterId: 'c-000001', cause: 'requeue' });

      // Assess
      expect(actions).toEqual(['deleted']);
      expect((await w.store.get('c-000001'))?.status).toBe('DELETED');
      expect(w.backend.holds('c-000001')).toBe(false);
      assertHistoryInvariants(await w.store.history('c-000001'), await w.store.get('c-000001'));
    });

    it('lets the delete win when it lands between the observation and the RUNNING write', async () => {
      // Prepare
      await requested(w);
      await w.provisioner.handle(created('c-000001'));
      await w.backend.observe('c-000001'); // the cluster will be ready on the next observation
      const observe = w.backend.observe.bind(w.backend);
      let raced = false;
      w.backend.observe = async (id) => {
        const o = await observe(id);
        if (!raced) {
          raced = true;
          await requestDelete(w, id);
        }
        return o;
      };

      // Act
      const result = await w.provisioner.handle({ clusterId: 'c-000001', cause: 'requeue' });

      // Assess
      expect(result.action).toBe('deleted');
      const record = await w.store.get('c-000001');
      expect(record?.status).toBe('DELETED');
      expect(record?.runningAt).toBeUndefined();
      expect(w.backend.holds('c-000001')).toBe(false);
    });

    it('removes what it applied when the cluster was deleted and finished while the apply ran', async () => {
      // Prepare
      await requested(w);
      w.backend.onApply = async (d) => {
        // Another provisioner handles the delete completely while this apply is in flight.
        await requestDelete(w, d.clusterId);
        const deleting = await w.store.get(d.clusterId);
        const { next, change } = transition(deleting as ClusterRecord, 'DELETED', { actor: 'provisioner', at: w.at() });
        await w.store.put(next, (deleting as ClusterRecord).version, change);
      };

      // Act
      const result = await w.provisioner.handle(created('c-000001'));

      // Assess
      expect(result).toMatchObject({ action: 'terminal', status: 'DELETED' });
      expect(w.backend.holds('c-000001')).toBe(false);
    });

    it('fails with the worker log tail in the reason and removes the resources when a worker crashes at start', async () => {
      // Prepare
      await requested(w, 'c-000001', { RECC_FAKE_FAIL: 'ModuleNotFoundError: research_lib' });

      // Act
      const actions = await drain(w, created('c-000001'));

      // Assess
      expect(actions.at(-1)).toBe('failed');
      const record = await w.store.get('c-000001');
      expect(record?.status).toBe('FAILED');
      expect(record?.statusReason).toContain('worker failed (CrashLoopBackOff)');
      expect(record?.statusReason).toContain('ModuleNotFoundError: research_lib');
      expect(w.backend.holds('c-000001')).toBe(false);
    });

    it('fails with an actionable reason and removes the resources when the cluster is not ready by the deadline', async () => {
      // Prepare
      w = world({ readyAfterObserves: 1_000, config: { provisioningTimeoutMs: 60_000, pollDelaySeconds: 20 } });
      await requested(w);

      // Act
      const actions = await drain(w, created('c-000001'));

      // Assess
      expect(actions).toEqual(['applied', 'waiting', 'waiting', 'waiting', 'failed']); // polls at 20, 40 and 60 s; past 60 s it fails
      const record = await w.store.get('c-000001');
      expect(record?.status).toBe('FAILED');
      expect(record?.statusReason).toMatch(/did not become ready within 1 minutes .*workers registered: 0 of 2/);
      expect(w.backend.holds('c-000001')).toBe(false);
    });

    it('propagates a transient backend outage without changing the record, so the message is redelivered', async () => {
      // Prepare
      await requested(w);
      w.backend.unavailable = true;

      // Act
      const act = w.provisioner.handle(created('c-000001'));

      // Assess
      await expect(act).rejects.toBeInstanceOf(BackendUnavailableError);
      // The PROVISIONING write happened; the redelivery re-applies because the backend holds nothing.
      w.backend.unavailable = false;
      const actions = await drain(w, created('c-000001'));
      expect(actions).toEqual(['applied', 'waiting', 'running']);
    });

    it('re-applies when the backend lost a PROVISIONING cluster', async () => {
      // Prepare
      await requested(w);
      await w.provisioner.handle(created('c-000001'));
      w.backend.vanish('c-000001');

      // Act
      const result = await w.provisioner.handle({ clusterId: 'c-000001', cause: 'requeue' });

      // Assess
      expect(result.action).toBe('applied');
      expect(w.backend.count('apply')).toBe(2);
      expect(w.backend.holds('c-000001')).toBe(true);
    });

    it('scales the backend when desiredWorkers changed on a RUNNING cluster', async () => {
      // Prepare
      await requested(w);
      await drain(w, created('c-000001'));
      const running = (await w.store.get('c-000001')) as ClusterRecord;
      await w.store.put({ ...running, desiredWorkers: 5, version: running.version + 1 }, running.version);

      // Act
      const first = await w.provisioner.handle({ clusterId: 'c-000001', cause: 'scale' });
      const second = await w.provisioner.handle({ clusterId: 'c-000001', cause: 'scale' });

      // Assess
      expect(first.action).toBe('scaled');
      expect(second.action).toBe('in-sync');
      expect(w.backend.calls.filter((c) => c.op === 'scale')).toEqual([{ op: 'scale', clusterId: 'c-000001', nWorkers: 5 }]);
      expect((await w.backend.observe('c-000001')).workersDesired).toBe(5);
    });

    it('marks a RUNNING cluster FAILED when its resources vanished from the backend', async () => {
      // Prepare
      await requested(w);
      await drain(w, created('c-000001'));
      w.backend.vanish('c-000001');

      // Act
      const result = await w.provisioner.handle({ clusterId: 'c-000001', cause: 'scale' });

      // Assess
      expect(result.action).toBe('failed');
      expect((await w.store.get('c-000001'))?.statusReason).toMatch(/gone from the backend/);
    });

    it('keeps re-queueing a slow teardown until the backend holds nothing, then DELETED', async () => {
      // Prepare
      w = world({ goneAfterObserves: 3 });
      await requested(w);
      await drain(w, created('c-000001'));
      await requestDelete(w, 'c-000001');

      // Act
      const actions = await drain(w, { clusterId: 'c-000001', cause: 'delete-requested' });

      // Assess
      expect(actions).toEqual(['tearing-down', 'tearing-down', 'tearing-down', 'deleted']);
      expect(w.backend.holds('c-000001')).toBe(false);
      expect((await w.store.get('c-000001'))?.status).toBe('DELETED');
    });

    it('does nothing for DELETED, FAILED and unknown clusters', async () => {
      // Prepare
      await requested(w);
      await requestDelete(w, 'c-000001');
      await drain(w, { clusterId: 'c-000001', cause: 'delete-requested' });
      const callsBefore = w.backend.calls.length;

      // Act
      const terminal = await w.provisioner.handle({ clusterId: 'c-000001', cause: 'requeue' });
      const missing = await w.provisioner.handle({ clusterId: 'c-999999', cause: 'requeue' });

      // Assess
      expect(terminal).toMatchObject({ action: 'terminal', status: 'DELETED' });
      expect(missing.action).toBe('missing');
      expect(w.backend.calls.length).toBe(callsBefore);
      expect(w.queue.sent.filter((s) => s.message.clusterId === 'c-999999')).toEqual([]);
    });
  });
});

describe('Function: describeFailure', () => {
  it('names the component and reason and keeps only the last lines of the log', () => {
    const log = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n');
    const reason = describeFailure({ component: 'scheduler', reason: 'ProcessExited', message: 'exited with code 1', logTail: log, permanent: true }, 3);
    expect(reason).toBe('scheduler failed (ProcessExited): exited with code 1\n--- last lines of the scheduler log ---\nline 27\nline 28\nline 29');
  });

  it('drops blank lines and shortens very long ones', () => {
    expect(tailLines(`a\n\n${'x'.repeat(400)}\n`, 5)).toBe(`a\n${'x'.repeat(300)}…`);
  });
});
