import type { Context, ScheduledEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { InMemoryAlertLedger } from '../../../adapters/store/alert-ledger-memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { makeHandler as makeCostReporter } from '../../../functions/cost-reporter.ts';
import { makeHandler as makeHarvester } from '../../../functions/harvester.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { costConfigFromEnv } from '../../../shared/cost/config.ts';
import { DEFAULT_HARVEST_CONFIG } from '../../../shared/harvest/types.ts';
import { ObservedBackend } from '../../fakes/observed-backend.ts';
import { pricedPlan, storeRunningSince } from '../../support/cost-fixtures.ts';

/** The scheduled Lambda handlers (thin middy wrappers) on in-memory ports. */
const scheduled = { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} } as unknown as ScheduledEvent;
const context = { awsRequestId: 'req-1' } as Context;
const NOV = Date.UTC(2026, 10, 1);

describe('Handler: harvester', () => {
  it('runs one harvest and returns its summary', async () => {
    // Prepare: an idle cluster (1-minute timeout) and an orphan.
    const store = new InMemoryClusterStore();
    const backend = new ObservedBackend();
    await storeRunningSince(store, { id: 'c-idle', owner: 'alice', plan: pricedPlan('c5.xlarge', [2]), workers: 2, since: NOV, idleTimeoutMinutes: 1 });
    backend.add('c-idle');
    backend.add('c-orphan');
    const queue = new InMemoryWorkQueue();
    const handler = makeHarvester({ store, backend, queue, clock: new ManualClock(NOV + 5 * 60_000), config: DEFAULT_HARVEST_CONFIG, logger: silentLogger });

    // Act
    const summary = await handler(scheduled, context);

    // Assess
    expect(summary).toEqual({ considered: 1, reaped: [{ clusterId: 'c-idle', reason: 'idle' }], failed: [], orphansRemoved: ['c-orphan'], errors: 0, runsFailed: [], grantsRemoved: [] });
    expect(queue.messages).toEqual([{ clusterId: 'c-idle', cause: 'delete-requested' }]);
  });
});

describe('Handler: cost-reporter', () => {
  it('runs one report and returns its summary', async () => {
    const store = new InMemoryClusterStore();
    await storeRunningSince(store, { id: 'c-a', owner: 'alice', plan: pricedPlan('c5.xlarge', [2]), workers: 2, since: NOV, idleTimeoutMinutes: 60 * 24 * 60 });
    const handler = makeCostReporter({ store, clock: new ManualClock(NOV + 10 * 3_600_000), logger: silentLogger, config: costConfigFromEnv({}), ledger: new InMemoryAlertLedger(), notifiers: [] });

    const summary = await handler(scheduled, context);

    expect(summary).toEqual({ month: '2026-11', monthToDate: 1.8, users: 1, alertsSent: 0, alertsFailed: 0, budgets: 0, costsUpdated: 1 });
  });
});
