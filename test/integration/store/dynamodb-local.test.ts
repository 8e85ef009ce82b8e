import { clusterStoreConformance } from '../../conformance/cluster-store.ts';
import { startDynamoDbLocal } from '../../support/dynamodb.ts';
import { freshDynamoDbStore, useDynamoDb } from '../../support/dynamodb-suite.ts';

const dynamo = useDynamoDb(() => startDynamoDbLocal());

for (const transactions of [true, false]) {
  clusterStoreConformance(`DynamoDB Local, ${transactions ? 'transactions' : 'sequential conditional writes'}`, () =>
    freshDynamoDbStore(dynamo.client, { transactions }),
  );
}
