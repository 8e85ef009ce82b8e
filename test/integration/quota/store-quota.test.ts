import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { clusterStoreQuotaConformance } from '../../conformance/quota/cluster-store-quota.ts';
import { startDynalite, startDynamoDbLocal } from '../../support/dynamodb.ts';
import { freshDynamoDbStore, useDynamoDb } from '../../support/dynamodb-suite.ts';

/**
 * Quotas (issue 17): the quota contract of the ClusterStore port on every
 * adapter. DynamoDB Local runs TransactWriteItems exactly as AWS does (the
 * usage item is updated in the same transaction as the cluster record), so
 * its run of "never overshoots when 50 creates race" is the proof that
 * concurrent creates cannot take a user over the limit.
 */
clusterStoreQuotaConformance('in-memory', async () => ({ store: new InMemoryClusterStore() }));

const dynalite = useDynamoDb(() => startDynalite());
clusterStoreQuotaConformance('dynalite, sequential conditional writes', () => freshDynamoDbStore(dynalite.client, { transactions: false }));

// Transactions only: the sequential writer's quota path is the same code on dynalite above.
const local = useDynamoDb(() => startDynamoDbLocal());
clusterStoreQuotaConformance('DynamoDB Local, transactions', () => freshDynamoDbStore(local.client, { transactions: true }));
