import type { SqsBridgeConfig } from './config.ts';
import { FileSubmissionStore } from './file-store.ts';
import type { SubmissionStore } from './store.ts';

/** The submission record the configuration names; the DynamoDB client is loaded only when it is used. */
export async function openStore(config: SqsBridgeConfig): Promise<SubmissionStore> {
  const store = config.store ?? { kind: 'file' as const };
  if (store.kind === 'file') return new FileSubmissionStore(config.stateDir);
  const [{ DynamoDBClient }, { DynamoDBDocumentClient }, { DynamoDbSubmissionStore }] = await Promise.all([
    import('@aws-sdk/client-dynamodb'),
    import('@aws-sdk/lib-dynamodb'),
    import('./dynamodb-store.ts'),
  ]);
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      region: config.route.region,
      ...(store.endpoint ? { endpoint: store.endpoint } : {}),
      ...(config.credentials ? { credentials: config.credentials } : {}),
      maxAttempts: 5,
    }),
  );
  return new DynamoDbSubmissionStore({ client, tableName: store.tableName, partition: store.partition });
}
