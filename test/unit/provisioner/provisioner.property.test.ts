import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertHistoryInvariants, deleteTarget, revise, transition } from '../../../shared/lifecycle/machine.ts';
import type { ProvisionMessage, WorkQueue } from '../../../shared/ports/work-queue.ts';
import { addRequested, provisionerWorld } from '../../support/provisioner-world.ts';

/**
 * At-least-once delivery, in any order, interleaved with deletes, scales and
 * backend outages: whatever happens, the history stays legal, a cluster that
 * ends DELETED holds nothing on the backend (FAILED: its teardown was
 * requested), and a RUNNING one has its connection.
 */
type Op =
  | { kind: 'deliver'; pick: number; duplicate: boolean }
  | { kind: 'delete' }
  | { kind: 'scale'; n: number }
  | { kind: 'outage'; on: boolean }
  | { kind: 'tick'; seconds: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(), duplicate: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('scale' as const), n: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('outage' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), seconds: fc.integer({ min: 1, max: 120 }) }) },
);

class BagQueue implements WorkQueue {
  readonly bag: ProvisionMessage[] = [];
  async send(message: ProvisionMessage): Promise<void> {
    this.bag.push({ ...message });
  }
}

async function scenario(ops: Op[], failWorkers: boolean): Promise<void> {
  const w = provisionerWorld({
    queue: new BagQueue(),
    readyAfterObserves: 2,
    goneAfterObserves: 1,
    config: { pollDelaySeconds: 5, provisioningTimeoutMs: 10 * 60_000, deletionTimeoutMs: 10 * 60_000 },
  });
  const { store, queue, backend, clock, provisioner, at } = w;
  const id = 'c-000001';
  await addRequested(w, id, { env: failWorkers ? { RECC_FAKE_FAIL: 'boom' } : {} });
  queue.bag.push({ clusterId: id, cause: 'created' });

  const deliver = async (index: number, keep: boolean) => {
    const message = queue.bag[index % queue.bag.length] as ProvisionMessage;
    if (!keep) queue.bag.splice(index % queue.bag.length, 1);
    try {
      await provisioner.handle(message);
    } catch {
      // A failed step is redelivered: the message stays in the bag.
      if (!keep) queue.bag.push(message);
    }
  };

  for (const o of ops) {
    if (o.kind === 'deliver' && queue.bag.length > 0) await deliver(o.pick, o.duplicate);
    if (o.kind === 'tick') clock.advance(o.seconds * 1000);
    if (o.kind === 'outage') backend.unavailable = o.on;
    const current = await store.get(id);
    if (!current) throw new Error('record vanished');
    if (o.kind === 'delete' && deleteTarget(current.status)) {
      const { next, change } = transition(current, 'DELETING', { actor: 'arathe', at: at() });
      await store.put(next, current.version, change);
      queue.bag.push({ clusterId: id, cause: 'delete-requested' });
    }
    if (o.kind === 'scale' && ['REQUESTED', 'PROVISIONING', 'RUNNING'].includes(current.status)) {
      await store.put(revise(current, { at: at(), patch: { desiredWorkers: o.n } }), current.version);
      queue.bag.push({ clusterId: id, cause: 'scale' });
    }
    const now = await store.get(id);
    if (now?.status === 'RUNNING') expect(now.connection?.token).toBe(`token-${id}`);
  }

  // Quiesce: the backend recovers, the owner deletes, every message is delivered.
  backend.unavailable = false;
  const last = await store.get(id);
  if (last && deleteTarget(last.status)) {
    const { next, change } = transition(last, 'DELETING', { actor: 'arathe', at: at() });
    await store.put(next, last.version, change);
    queue.bag.push({ clusterId: id, cause: 'delete-requested' });
  }
  for (let i = 0; i < 200 && queue.bag.length > 0; i += 1) {
    clock.advance(5_000);
    await deliver(0, false);
  }

  const final = await store.get(id);
  expect(['DELETED', 'FAILED']).toContain(final?.status);
  // DELETED waits until the backend holds nothing; FAILED has at least asked for the teardown.
  if (final?.status === 'DELETED') expect(backend.holds(id)).toBe(false);
  expect(backend.holdsLive(id)).toBe(false);
  assertHistoryInvariants(await store.history(id), final);
}

describe('Class: Provisioner (property)', () => {
  it('keeps a legal history and leaves nothing behind under redelivery, reordering, deletes, scales and outages', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 40 }), fc.boolean(), async (ops, failWorkers) => {
        await scenario(ops, failWorkers);
      }),
      { numRuns: 300 },
    );
  });
});
