import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  TRANSITIONS,
  allowedTargets,
  assertHistoryInvariants,
  assertRecordInvariants,
  canTransition,
  deleteTarget,
  initialChange,
  isLive,
  isTerminal,
  namespaceFor,
  newClusterRecord,
  revise,
  transition,
} from '../../../shared/lifecycle/machine.ts';
import { InvalidTransitionError, LifecycleUsageError, RecordInvariantError } from '../../../shared/lifecycle/errors.ts';
import { CLUSTER_STATUSES, type ClusterRecord, type ClusterStatus, type StatusChange } from '../../../shared/lifecycle/types.ts';
import { sampleCluster, samplePlan, sampleSpec, t } from '../../support/cluster-records.ts';

/** The expected table, written out independently of the implementation. */
const LEGAL: ReadonlyArray<[ClusterStatus, ClusterStatus]> = [
  ['REQUESTED', 'PROVISIONING'],
  ['REQUESTED', 'DELETING'],
  ['REQUESTED', 'FAILED'],
  ['PROVISIONING', 'RUNNING'],
  ['PROVISIONING', 'DELETING'],
  ['PROVISIONING', 'FAILED'],
  ['RUNNING', 'DELETING'],
  ['RUNNING', 'FAILED'],
  ['DELETING', 'DELETED'],
  ['DELETING', 'FAILED'],
];
const isLegal = (from: ClusterStatus, to: ClusterStatus): boolean => LEGAL.some(([f, tt]) => f === from && tt === to);
const ALL_PAIRS = CLUSTER_STATUSES.flatMap((from) => CLUSTER_STATUSES.map((to) => [from, to] as [ClusterStatus, ClusterStatus]));
const ILLEGAL = ALL_PAIRS.filter(([f, tt]) => !isLegal(f, tt));

/** A record in `status` with the stamps a real walk through the table would have left. */
function recordIn(status: ClusterStatus): ClusterRecord {
  const { record } = sampleCluster({ id: 'c-abc123', owner: 'alice', at: t(0) });
  const walk: Record<ClusterStatus, ClusterStatus[]> = {
    REQUESTED: [],
    PROVISIONING: ['PROVISIONING'],
    RUNNING: ['PROVISIONING', 'RUNNING'],
    DELETING: ['PROVISIONING', 'RUNNING', 'DELETING'],
    DELETED: ['PROVISIONING', 'RUNNING', 'DELETING', 'DELETED'],
    FAILED: ['PROVISIONING', 'FAILED'],
  };
  let r = record;
  walk[status].forEach((to, i) => {
    r = transition(r, to, { actor: 'provisioner', at: t(i + 1), ...(to === 'FAILED' ? { reason: 'boom' } : {}) }).next;
  });
  return r;
}

describe('Module: lifecycle machine', () => {
  describe('Constant: TRANSITIONS', () => {
    it('holds exactly the legal pairs of the issue', () => {
      // Act
      const pairs = Object.entries(TRANSITIONS).flatMap(([from, tos]) => tos.map((to) => [from, to]));

      // Assess
      expect(pairs.sort()).toEqual([...LEGAL].map((p) => [...p]).sort());
    });

    it('is frozen so no caller can widen it', () => {
      expect(Object.isFrozen(TRANSITIONS)).toBe(true);
      for (const s of CLUSTER_STATUSES) expect(Object.isFrozen(TRANSITIONS[s])).toBe(true);
    });

    it('makes DELETED and FAILED terminal (nothing leaves them, FAILED → DELETING included)', () => {
      expect(allowedTargets('DELETED')).toEqual([]);
      expect(allowedTargets('FAILED')).toEqual([]);
      expect(canTransition('FAILED', 'DELETING')).toBe(false);
    });
  });

  describe('Method: canTransition', () => {
    it.each(ALL_PAIRS)('answers the table for %s → %s', (from, to) => {
      expect(canTransition(from, to)).toBe(isLegal(from, to));
    });
  });

  describe('Method: isLive / isTerminal', () => {
    it.each(CLUSTER_STATUSES)('classifies %s as exactly one of live and terminal', (s) => {
      expect(isLive(s)).toBe(['REQUESTED', 'PROVISIONING', 'RUNNING', 'DELETING'].includes(s));
      expect(isTerminal(s)).toBe(!isLive(s));
    });
  });

  describe('Method: deleteTarget', () => {
    it.each([
      ['REQUESTED', 'DELETING'],
      ['PROVISIONING', 'DELETING'],
      ['RUNNING', 'DELETING'],
      ['DELETING', undefined],
      ['DELETED', undefined],
      ['FAILED', undefined],
    ] as const)('answers %s → %s (undefined = idempotent no-op)', (from, expected) => {
      expect(deleteTarget(from)).toBe(expected);
    });
  });

  describe('Method: transition', () => {
    it.each(LEGAL)('moves %s → %s with a bumped version, stamps and a StatusChange', (from, to) => {
      // Prepare
      const before = recordIn(from);
      const frozen = structuredClone(before);
      const at = t(100);
      const reason = to === 'FAILED' ? 'ImagePullBackOff: image not found' : undefined;

      // Act
      const { next, change } = transition(before, to, { actor: 'alice', at, ...(reason ? { reason } : {}) });

      // Assess
      const expected: ClusterRecord = { ...structuredClone(before), status: to, version: before.version + 1, updatedAt: at };
      delete expected.statusReason;
      if (reason) expected.statusReason = reason;
      if (to === 'PROVISIONING') expected.provisioningAt = at;
      if (to === 'RUNNING') expected.runningAt = at;
      if (to === 'DELETED' || to === 'FAILED') expected.endedAt = at;
      expect(next).toStrictEqual(expected);
      const expectedChange: StatusChange = { clusterId: 'c-abc123', from, to, at, actor: 'alice', version: before.version + 1 };
      if (reason) expectedChange.reason = reason;
      expect(change).toStrictEqual(expectedChange);
      expect(before).toStrictEqual(frozen);
      assertRecordInvariants(next);
    });

    it.each(ILLEGAL)('throws InvalidTransitionError for %s → %s naming from, to and the allowed targets', (from, to) => {
      // Prepare
      const before = recordIn(from);

      // Act
      let caught: unknown;
      try {
        transition(before, to, { actor: 'alice', at: t(100), reason: 'r' });
      } catch (err) {
        caught = err;
      }

      // Assess
      expect(caught).toBeInstanceOf(InvalidTransitionError);
      const err = caught as InvalidTransitionError;
      expect(err.statusCode).toBe(409);
      expect(err.name).toBe('InvalidTransitionError');
      expect(err.from).toBe(from);
      expect(err.to).toBe(to);
      expect(err.allowed).toEqual(TRANSITIONS[from]);
      const targets = TRANSITIONS[from].length > 0 ? TRANSITIONS[from].join(', ') : 'none (terminal status)';
      expect(err.message).toBe(`cluster c-abc123 cannot go from ${from} to ${to}; allowed from ${from}: ${targets}`);
      expect(err.details).toEqual([{ path: 'status', message: `cannot go from ${from} to ${to}` }]);
    });

    it('keeps the first provisioningAt and runningAt stamps when later transitions happen', () => {
      // Prepare
      const running = recordIn('RUNNING');

      // Act
      const { next } = transition(running, 'DELETING', { actor: 'harvester', at: t(50), reason: 'idle for 30 minutes' });

      // Assess
      expect(next.provisioningAt).toBe(t(1));
      expect(next.runningAt).toBe(t(2));
      expect(next.statusReason).toBe('idle for 30 minutes');
      expect(next.endedAt).toBeUndefined();
    });

    it('clears a previous statusReason when the new transition gives none', () => {
      // Prepare
      const deleting = transition(recordIn('RUNNING'), 'DELETING', { actor: 'harvester', at: t(5), reason: 'idle' }).next;

      // Act
      const { next, change } = transition(deleting, 'DELETED', { actor: 'provisioner', at: t(6) });

      // Assess
      expect('statusReason' in next).toBe(false);
      expect('reason' in change).toBe(false);
    });

    it('applies the patch in the same step and drops keys patched to undefined', () => {
      // Prepare
      const provisioning = recordIn('PROVISIONING');
      const connection = { schedulerAddress: 'tcp://127.0.0.1:41234', token: 'secret-token' };

      // Act
      const { next } = transition(provisioning, 'RUNNING', {
        actor: 'provisioner',
        at: t(9),
        patch: { connection, template: undefined, lastActivityAt: t(9) },
      });

      // Assess
      expect(next.connection).toEqual(connection);
      expect('template' in next).toBe(false);
      expect(next.lastActivityAt).toBe(t(9));
      expect(provisioning.connection).toBeUndefined();
    });

    it.each(['id', 'owner', 'createdAt', 'version', 'status', 'statusReason', 'updatedAt', 'provisioningAt', 'runningAt', 'endedAt'] as const)(
      'throws LifecycleUsageError when the patch changes %s',
      (key) => {
        const r = recordIn('REQUESTED');
        const patch = { [key]: key === 'version' ? 7 : key === 'status' ? 'RUNNING' : 'other' } as Partial<ClusterRecord>;
        expect(() => transition(r, 'PROVISIONING', { actor: 'p', at: t(3), patch })).toThrow(LifecycleUsageError);
      },
    );

    it('accepts a patch that repeats a protected field unchanged', () => {
      const r = recordIn('REQUESTED');
      const { next } = transition(r, 'PROVISIONING', { actor: 'p', at: t(3), patch: { id: r.id, owner: r.owner } });
      expect(next.status).toBe('PROVISIONING');
    });

    it.each(['', '   '])('throws LifecycleUsageError for FAILED with reason %j', (reason) => {
      expect(() => transition(recordIn('RUNNING'), 'FAILED', { actor: 'provisioner', at: t(3), reason })).toThrow(
        'a transition to FAILED needs a reason',
      );
    });

    it('throws LifecycleUsageError for FAILED without a reason', () => {
      expect(() => transition(recordIn('RUNNING'), 'FAILED', { actor: 'provisioner', at: t(3) })).toThrow(LifecycleUsageError);
    });

    it('throws LifecycleUsageError when at is not a time or the actor is empty', () => {
      expect(() => transition(recordIn('REQUESTED'), 'PROVISIONING', { actor: 'p', at: 'yesterday' })).toThrow(LifecycleUsageError);
      expect(() => transition(recordIn('REQUESTED'), 'PROVISIONING', { actor: '', at: t(1) })).toThrow(LifecycleUsageError);
    });

    it('keeps every reachable record valid along random walks through the table', () => {
      fc.assert(
        fc.property(fc.array(fc.nat({ max: 5 }), { maxLength: 12 }), (choices) => {
          // Prepare
          const { record, change } = sampleCluster({ id: 'c-walk01', owner: 'bob', at: t(0) });
          let r = record;
          const history: StatusChange[] = [change];

          // Act
          choices.forEach((choice, i) => {
            const targets = allowedTargets(r.status);
            if (targets.length === 0) return;
            const to = targets[choice % targets.length] as ClusterStatus;
            const step = transition(r, to, { actor: 'x', at: t(i + 1), ...(to === 'FAILED' ? { reason: 'r' } : {}) });
            r = step.next;
            history.push(step.change);
          });

          // Assess
          assertRecordInvariants(r);
          assertHistoryInvariants(history, r);
          expect(r.version).toBe(history.length);
        }),
      );
    });
  });

  describe('Method: revise', () => {
    it('bumps the version and updatedAt and keeps the status', () => {
      // Prepare
      const running = recordIn('RUNNING');

      // Act
      const next = revise(running, { at: t(20), patch: { desiredWorkers: 8 } });

      // Assess
      expect(next).toStrictEqual({ ...running, desiredWorkers: 8, version: running.version + 1, updatedAt: t(20) });
      expect(running.desiredWorkers).toBe(2);
    });

    it('throws LifecycleUsageError when the patch changes the status', () => {
      expect(() => revise(recordIn('RUNNING'), { at: t(20), patch: { status: 'DELETED' } })).toThrow(LifecycleUsageError);
    });
  });

  describe('Method: newClusterRecord', () => {
    it('builds the REQUESTED record at version 1 with defaults from the spec', () => {
      // Act
      const record = newClusterRecord({
        id: 'c-0f3k9z',
        owner: 'Alice.Smith@corp',
        at: t(0),
        spec: sampleSpec({ nWorkers: 5, name: 'sweep', job: 'nightly' }),
        plan: samplePlan(),
        clientToken: 'tok-1',
      });

      // Assess
      expect(record).toStrictEqual({
        id: 'c-0f3k9z',
        owner: 'Alice.Smith@corp',
        name: 'sweep',
        job: 'nightly',
        namespace: 'recc-alice-smith-corp-0f3k9z',
        status: 'REQUESTED',
        version: 1,
        spec: sampleSpec({ nWorkers: 5, name: 'sweep', job: 'nightly' }),
        plan: samplePlan(),
        desiredWorkers: 5,
        clientToken: 'tok-1',
        createdAt: t(0),
        updatedAt: t(0),
        lastActivityAt: t(0),
      });
      assertRecordInvariants(record);
    });

    it('prefers explicit name, job and namespace and falls back to the id for the name', () => {
      const base = { id: 'c-1', owner: 'a', at: t(0), spec: sampleSpec(), plan: samplePlan() };
      expect(newClusterRecord(base).name).toBe('c-1');
      const r = newClusterRecord({ ...base, name: 'n', job: 'j', namespace: 'ns-x', template: 'gpu' });
      expect([r.name, r.job, r.namespace, r.template]).toEqual(['n', 'j', 'ns-x', 'gpu']);
    });

    it('throws LifecycleUsageError without id, owner or a valid time', () => {
      const base = { id: 'c-1', owner: 'a', at: t(0), spec: sampleSpec(), plan: samplePlan() };
      expect(() => newClusterRecord({ ...base, id: '' })).toThrow(LifecycleUsageError);
      expect(() => newClusterRecord({ ...base, owner: '' })).toThrow(LifecycleUsageError);
      expect(() => newClusterRecord({ ...base, at: 'soon' })).toThrow(LifecycleUsageError);
    });
  });

  describe('Method: initialChange', () => {
    it('records null → REQUESTED at version 1 at the creation time', () => {
      const { record } = sampleCluster({ id: 'c-1', owner: 'alice', at: t(3) });
      expect(initialChange(record, { actor: 'alice', reason: 'api' })).toStrictEqual({
        clusterId: 'c-1',
        from: null,
        to: 'REQUESTED',
        at: t(3),
        actor: 'alice',
        reason: 'api',
        version: 1,
      });
    });
  });

  describe('Method: namespaceFor', () => {
    it.each([
      ['alice', 'c-3f9a0b', 'recc-alice-3f9a0b'],
      ['Alice.Smith@Corp.COM', 'c-3f9a0b', 'recc-alice-smith-corp-com-3f9a0b'],
      ['___', 'c-3f9a0b', 'recc-user-3f9a0b'],
    ])('maps owner %s and id %s to %s', (owner, id, expected) => {
      expect(namespaceFor(owner, id)).toBe(expected);
    });

    it('always yields a DNS label of at most 63 characters', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 200 }), fc.string({ minLength: 1, maxLength: 40 }), (owner, id) => {
          const ns = namespaceFor(owner, id);
          expect(ns.length).toBeLessThanOrEqual(63);
          expect(ns).toMatch(/^recc-[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
        }),
      );
    });
  });

  describe('Method: assertRecordInvariants', () => {
    it.each([
      ['terminal without endedAt', (r: ClusterRecord) => ({ ...r, status: 'DELETED' as const }), 'DELETED without endedAt'],
      ['version 0', (r: ClusterRecord) => ({ ...r, version: 0 }), 'version 0 is not an integer ≥ 1'],
      ['RUNNING without runningAt', (r: ClusterRecord) => ({ ...r, status: 'RUNNING' as const, provisioningAt: t(1) }), 'RUNNING without runningAt'],
      ['FAILED without reason', (r: ClusterRecord) => ({ ...r, status: 'FAILED' as const, endedAt: t(1) }), 'FAILED without statusReason'],
      ['live with endedAt', (r: ClusterRecord) => ({ ...r, endedAt: t(1) }), 'REQUESTED with endedAt'],
      ['negative workers', (r: ClusterRecord) => ({ ...r, desiredWorkers: -1 }), 'desiredWorkers -1 is not an integer ≥ 0'],
    ])('throws RecordInvariantError for %s', (_name, mutate, problem) => {
      const { record } = sampleCluster({ id: 'c-1', owner: 'a', at: t(0) });
      let caught: unknown;
      try {
        assertRecordInvariants(mutate(record));
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(RecordInvariantError);
      expect((caught as RecordInvariantError).problems).toContain(problem);
    });
  });

  describe('Method: assertHistoryInvariants', () => {
    it('throws when an entry skips a status or repeats a version', () => {
      const { record, change } = sampleCluster({ id: 'c-1', owner: 'a', at: t(0) });
      const jump: StatusChange = { clusterId: 'c-1', from: 'REQUESTED', to: 'RUNNING', at: t(1), actor: 'x', version: 1 };
      expect(() => assertHistoryInvariants([change, jump], record)).toThrow(RecordInvariantError);
      expect(() => assertHistoryInvariants([], record)).toThrow('history is empty');
    });
  });
});
