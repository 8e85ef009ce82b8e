import { describe, expect, it } from 'vitest';
import { initialChange, revise } from '../../../shared/lifecycle/machine.ts';
import { sampleCluster, t } from '../../support/cluster-records.ts';
import { startDynalite } from '../../support/dynamodb.ts';
import { freshDynamoDbStore, useDynamoDb } from '../../support/dynamodb-suite.ts';

/** `kubectlEditAt` (issue 21 #3) survives the DynamoDB store (dynalite), and is absent when never asked. */
describe('DynamoDbClusterStore: kubectlEditAt', () => {
  const dynamo = useDynamoDb(() => startDynalite());

  it('stores and reads back the time kubectl edit was allowed', async () => {
    const { store, cleanup } = await freshDynamoDbStore(dynamo.client, { transactions: false });
    try {
      // Prepare
      const { record } = sampleCluster({ id: 'c-edit', owner: 'alice', at: t(0) });
      await store.create(record, initialChange(record, { actor: 'alice' }));
      const before = await store.get('c-edit');

      // Act
      await store.put(revise(before!, { at: t(5), patch: { kubectlEditAt: t(5) } }), before!.version);

      // Assess
      expect(before?.kubectlEditAt).toBeUndefined();
      expect((await store.get('c-edit'))?.kubectlEditAt).toBe(t(5));
    } finally {
      await cleanup();
    }
  });
});
