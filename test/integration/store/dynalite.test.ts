import { clusterStoreConformance } from '../../conformance/cluster-store.ts';
import { startDynalite } from '../../support/dynamodb.ts';
import { freshDynamoDbStore, useDynamoDb } from '../../support/dynamodb-suite.ts';

const dynamo = useDynamoDb(() => startDynalite());

clusterStoreConformance('dynalite, sequential conditional writes', () => freshDynamoDbStore(dynamo.client, { transactions: false }));
