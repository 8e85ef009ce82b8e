import { jobStoreConformance } from '../../conformance/job-store.ts';
import { DynamoDbJobStore } from '../../../adapters/store/jobs-dynamodb.ts';
import { createTable, deleteTable } from '../../../adapters/store/dynamodb.ts';
import { startDynamoDbLocal, uniqueTableName } from '../../support/dynamodb.ts';
import { useDynamoDb } from '../../support/dynamodb-suite.ts';

const dynamo = useDynamoDb(() => startDynamoDbLocal());

jobStoreConformance('DynamoDB Local (the cluster table)', async () => {
  const tableName = uniqueTableName('recc-jobs');
  await createTable(dynamo.client, tableName);
  return { store: new DynamoDbJobStore(dynamo.client, { tableName }), cleanup: () => deleteTable(dynamo.client, tableName) };
});
