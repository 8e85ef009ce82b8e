import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import type { ClusterStore } from '../../../shared/ports/cluster-store.ts';
import { VersionConflictError } from '../../../shared/ports/errors.ts';
import { canTransition, revise, transition } from '../../../shared/lifecycle/machine.ts';
import { CLUSTER_STATUSES, type ClusterRecord, type ClusterStatus } from '../../../shared/lifecycle/types.ts';
import { sampleCluster, t } from '../../support/cluster-records.ts';
import { startDynalite } from '../../support/dynamodb.ts';
import { freshDynamoDbStore, useDynamoDb } from '../../support/dynamodb-suite.ts';

/**
 * Differential test: random sequences of store operations (creates with
 * repeated tokens, legal and stale transitions, revisions, touches with random
 * times, every read) give the same answers from the in-memory store and from
 * DynamoDB (dynalite, sequential writes). The in-memory store is the model
 * other helpers' unit tests rely on, so it must not drift from DynamoDB.
 */

const IDS = ['c-d00001', 'c-d00002', 'c-d00003', 'c-d00004'];
const OWNERS = ['alice', 'bob'];
const status = fc.constantFrom(...CLUSTER_STATUSES);

type Op =
  | { kind: 'create'; id: number; owner: number; token: number | null }
  | { kind: 'transition'; id: number; to: ClusterStatus; stale: boolean }
  | { kind: 'revise'; id: number; workers: number; stale: boolean; activity: number | null }
  | { kind: 'touch'; id: number; activity: number | null; heartbeat: number | null }
  | { kind: 'read'; id: number; owner: number; status: ClusterStatus | null };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), id: fc.nat(IDS.length - 1), owner: fc.nat(1), token: fc.option(fc.nat(1)) }),
  fc.record({ kind: fc.constant('transition' as const), id: fc.nat(IDS.length - 1), to: status, stale: fc.boolean() }),
  fc.record({
    kind: fc.constant('revise' as const),
    id: fc.nat(IDS.length - 1),
    workers: fc.nat(20),
    stale: fc.boolean(),
    activity: fc.option(fc.nat(200)),
  }),
  fc.record({
    kind: fc.constant('touch' as const),
    id: fc.nat(IDS.length - 1),
    activity: fc.option(fc.nat(200)),
    heartbeat: fc.option(fc.nat(200)),
  }),
  fc.record({ kind: fc.constant('read' as const), id: fc.nat(IDS.length - 1), owner: fc.nat(1), status: fc.option(status) }),
);

/** Outcome of one call, comparable across stores. */
async function outcome(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    return { ok: await fn() };
  } catch (err) {
    const e = err as Error;
    return { error: e.name, current: err instanceof VersionConflictError ? err.current : undefined };
  }
}

async function apply(store: ClusterStore, op: Op, step: number, model: ClusterRecord | undefined): Promise<unknown> {
  const id = IDS[op.id] as string;
  switch (op.kind) {
    case 'create': {
      const { record, change } = sampleCluster({
        id,
        owner: OWNERS[op.owner] as string,
        at: t(step),
        ...(op.token === null ? {} : { clientToken: `tok-${op.token}` }),
      });
      return outcome(() => store.create(record, change));
    }
    case 'transition': {
      if (model === undefined || !canTransition(model.status, op.to)) return 'skipped';
      const base = op.stale && model.version > 1 ? { ...model, version: model.version - 1 } : model;
      const { next, change } = transition(base, op.to, { actor: 'fuzz', at: t(step), ...(op.to === 'FAILED' ? { reason: 'r' } : {}) });
      return outcome(() => store.put(next, base.version, change));
    }
    case 'revise': {
      if (model === undefined) return 'skipped';
      const base = op.stale && model.version > 1 ? { ...model, version: model.version - 1 } : model;
      const patch: Partial<ClusterRecord> = { desiredWorkers: op.workers };
      if (op.activity !== null) patch.lastActivityAt = t(op.activity);
      return outcome(() => store.put(revise(base, { at: t(step), patch }), base.version));
    }
    case 'touch':
      return outcome(() =>
        store.touch(id, {
          ...(op.activity === null ? {} : { activityAt: t(op.activity) }),
          ...(op.heartbeat === null ? {} : { heartbeatAt: t(op.heartbeat) }),
        }),
      );
    case 'read': {
      const options = op.status === null ? {} : { status: op.status };
      return outcome(async () => ({
        get: await store.get(id),
        byOwner: await store.listByOwner(OWNERS[op.owner] as string, options),
        all: await store.listAll(options),
        live: await store.listLive(),
        history: await store.history(id),
      }));
    }
  }
}

describe('Property: InMemoryClusterStore and DynamoDbClusterStore agree', () => {
  const db = useDynamoDb(() => startDynalite());

  it('gives the same answer to every operation of a random sequence', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
        // Prepare
        const { store: dynamo, cleanup } = await freshDynamoDbStore(db.client, { transactions: false, prefix: 'recc-diff' });
        const memory = new InMemoryClusterStore();
        try {
          for (const [i, op] of ops.entries()) {
            const model = await memory.get(IDS[op.id] as string);

            // Act
            const expected = await apply(memory, op, i + 1, model);
            const actual = await apply(dynamo, op, i + 1, model);

            // Assess
            expect(actual, `op ${i}: ${JSON.stringify(op)}`).toStrictEqual(expected);
          }
        } finally {
          await cleanup();
        }
      }),
      { numRuns: 60 },
    );
  });
});
