import { afterAll, beforeAll } from 'vitest';
import { InMemoryAlertLedger } from '../../../adapters/store/alert-ledger-memory.ts';
import { DynamoDbAlertLedger } from '../../../adapters/store/alert-ledger-dynamodb.ts';
import { createTable } from '../../../adapters/store/dynamodb-table.ts';
import { alertLedgerConformance } from '../../conformance/alert-ledger.ts';
import { makeDocumentClient, startDynalite, startDynamoDbLocal, uniqueTableName, type DynamoDbEmulator } from '../../support/dynamodb.ts';

/** The AlertLedger contract on the in-memory adapter, dynalite and DynamoDB Local. */
alertLedgerConformance('in-memory', async () => {
  let now = Date.now();
  return { ledger: new InMemoryAlertLedger(() => now), setNow: (ms) => (now = ms) };
});

for (const [name, start] of [
  ['dynalite', () => startDynalite()],
  ['DynamoDB Local', () => startDynamoDbLocal()],
] as const) {
  let emulator: DynamoDbEmulator;
  beforeAll(async () => {
    emulator = await start();
  });
  afterAll(async () => {
    await emulator?.stop();
  });
  alertLedgerConformance(name, async () => {
    const client = makeDocumentClient(emulator.endpoint);
    const tableName = uniqueTableName('recc-alerts');
    await createTable(client, tableName);
    let now = Date.now();
    return { ledger: new DynamoDbAlertLedger({ client, tableName, now: () => now }), setNow: (ms) => (now = ms) };
  });
}
