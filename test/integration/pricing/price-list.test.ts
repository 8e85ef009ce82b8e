import { GetProductsCommand, PricingClient, ThrottlingException } from '@aws-sdk/client-pricing';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CachedPrices, DynamoDbPriceCache, fetchOnDemandPrices, onDemandHourlyUsd, refreshPricesIfStale } from '../../../adapters/pricing/price-list.ts';
import { createTable } from '../../../adapters/store/dynamodb-table.ts';
import { ClusterService } from '../../../control/clusters.ts';
import { PRICE_DATE } from '../../../shared/catalog/instances.ts';
import { parsePriceTable } from '../../../shared/catalog/prices.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { planCluster } from '../../../shared/plan/planner.ts';
import { resolveSpec } from '../../../shared/spec/resolve.ts';
import { makeDocumentClient, makeDynamoDbClient, startDynalite, uniqueTableName, type DynamoDbEmulator } from '../../support/dynamodb.ts';

/**
 * Issue 17 item 11: EC2 on-demand prices from the AWS Price List API, cached
 * in the clusters table, refreshed by the cost reporter, with the static
 * dated table as the fallback. GetProducts answers as the API does: each
 * PriceList entry is a JSON string (FormatVersion aws_v1) whose OnDemand term
 * holds one hourly USD price dimension; pages carry NextToken. The cache runs
 * on dynalite.
 */
function product(instanceType: string, region: string, usd: string): string {
  const sku = `SKU${instanceType.replace(/\W/g, '')}${region.replace(/\W/g, '')}`.toUpperCase();
  return JSON.stringify({
    product: { productFamily: 'Compute Instance', attributes: { instanceType, regionCode: region, operatingSystem: 'Linux', tenancy: 'Shared', preInstalledSw: 'NA', capacitystatus: 'Used', vcpu: '4' }, sku },
    serviceCode: 'AmazonEC2',
    terms: {
      OnDemand: {
        [`${sku}.JRTCKXETXF`]: {
          offerTermCode: 'JRTCKXETXF',
          sku,
          effectiveDate: '2026-11-01T00:00:00Z',
          priceDimensions: { [`${sku}.JRTCKXETXF.6YS6EN2CT7`]: { unit: 'Hrs', endRange: 'Inf', description: `$${usd} per On Demand Linux ${instanceType} Instance Hour`, appliesTo: [], rateCode: `${sku}.JRTCKXETXF.6YS6EN2CT7`, beginRange: '0', pricePerUnit: { USD: usd } } },
          termAttributes: {},
        },
      },
    },
    version: '20261101000000',
    publicationDate: '2026-11-01T00:00:00Z',
  });
}

const pricing = mockClient(PricingClient);
const PRICES: Record<string, string> = { 'c5.xlarge': '0.1920000000', 'm5.large': '0.1070000000', 'p3.2xlarge': '3.3660000000' };

function answerFromPriceList(): void {
  pricing.on(GetProductsCommand).callsFake((input: { Filters?: Array<{ Field: string; Value: string }>; NextToken?: string }) => {
    const f = Object.fromEntries((input.Filters ?? []).map((x) => [x.Field, x.Value]));
    const usd = PRICES[f.instanceType ?? ''];
    if (!usd) return { PriceList: [], FormatVersion: 'aws_v1' };
    // Two pages: a Windows-like product with no hourly USD first, then the real one.
    if (!input.NextToken) return { PriceList: [JSON.stringify({ product: { attributes: { instanceType: f.instanceType } }, terms: { OnDemand: {} } })], NextToken: 'page-2', FormatVersion: 'aws_v1' };
    return { PriceList: [product(f.instanceType as string, f.regionCode as string, usd)], FormatVersion: 'aws_v1' };
  });
}

describe('Function: fetchOnDemandPrices', () => {
  beforeEach(() => {
    pricing.reset();
    answerFromPriceList();
  });

  it('reads the hourly on-demand price of each type with the documented filters, through every page', async () => {
    const table = await fetchOnDemandPrices(new PricingClient({ region: 'us-east-1' }), 'eu-west-1', { instanceTypes: ['c5.xlarge', 'm5.large', 'p3.2xlarge', 'g5.xlarge'], now: () => new Date('2026-12-05T10:00:00Z') });
    expect(table).toEqual({ region: 'eu-west-1', asOf: '2026-12-05T10:00:00.000Z', prices: { 'c5.xlarge': 0.192, 'm5.large': 0.107, 'p3.2xlarge': 3.366 } });
    const first = pricing.commandCalls(GetProductsCommand)[0]?.args[0].input;
    expect(first?.ServiceCode).toBe('AmazonEC2');
    expect(first?.Filters).toEqual(expect.arrayContaining([{ Type: 'TERM_MATCH', Field: 'regionCode', Value: 'eu-west-1' }, { Type: 'TERM_MATCH', Field: 'operatingSystem', Value: 'Linux' }, { Type: 'TERM_MATCH', Field: 'tenancy', Value: 'Shared' }, { Type: 'TERM_MATCH', Field: 'capacitystatus', Value: 'Used' }]));
    expect(pricing.commandCalls(GetProductsCommand).filter((c) => c.args[0].input.NextToken === 'page-2')).toHaveLength(3);
  });

  it.each(['', 'not json', '{"product": {}}', JSON.stringify({ product: { attributes: { instanceType: 'c5.xlarge' } }, terms: { OnDemand: { t: { priceDimensions: { d: { unit: 'Hrs', pricePerUnit: { USD: '0.0000000000' } } } } } } })])('ignores a product without an hourly USD price: %j', (item) => {
    expect(onDemandHourlyUsd(item)).toBeUndefined();
  });
});

describe('Class: DynamoDbPriceCache and refreshPricesIfStale', () => {
  let db: DynamoDbEmulator;
  let cache: DynamoDbPriceCache;
  const tableName = uniqueTableName('recc-prices');

  beforeAll(async () => {
    db = await startDynalite();
    await createTable(makeDynamoDbClient(db.endpoint), tableName);
    cache = new DynamoDbPriceCache({ client: makeDocumentClient(db.endpoint), tableName });
  }, 60_000);
  afterAll(async () => {
    await db?.stop();
  });
  beforeEach(() => {
    pricing.reset();
    answerFromPriceList();
  });

  it('fetches when nothing is cached, stores it, then leaves a fresh table alone until a day has passed', async () => {
    const clock = new ManualClock(Date.parse('2026-12-05T10:00:00Z'));
    const deps = { pricing: new PricingClient({ region: 'us-east-1' }), cache, region: 'us-east-1', now: () => new Date(clock.now()), logger: silentLogger };

    const first = await refreshPricesIfStale(deps);
    expect(first).toMatchObject({ refreshed: true, asOf: '2026-12-05T10:00:00.000Z', prices: 3 });
    expect((await cache.get('us-east-1'))?.prices['c5.xlarge']).toBe(0.192);
    const calls = pricing.calls().length;

    clock.advance(23 * 3600_000);
    expect(await refreshPricesIfStale(deps)).toMatchObject({ refreshed: false, asOf: '2026-12-05T10:00:00.000Z' });
    expect(pricing.calls().length).toBe(calls);

    clock.advance(2 * 3600_000);
    expect(await refreshPricesIfStale(deps)).toMatchObject({ refreshed: true, asOf: '2026-12-06T11:00:00.000Z' });
  });

  it('keeps the cached table and never throws when the Price List API throttles or returns nothing', async () => {
    const deps = { pricing: new PricingClient({ region: 'us-east-1' }), cache, region: 'eu-west-1', now: () => new Date('2026-12-05T10:00:00Z'), logger: silentLogger };
    await cache.put({ region: 'eu-west-1', asOf: '2026-11-01T00:00:00.000Z', prices: { 'c5.xlarge': 0.2 } });
    pricing.reset();
    pricing.on(GetProductsCommand).rejects(new ThrottlingException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }));
    expect(await refreshPricesIfStale(deps)).toMatchObject({ refreshed: false, error: 'ThrottlingException' });
    pricing.reset();
    pricing.on(GetProductsCommand).resolves({ PriceList: [], FormatVersion: 'aws_v1' });
    expect(await refreshPricesIfStale(deps)).toMatchObject({ refreshed: false, error: 'no prices returned' });
    expect((await cache.get('eu-west-1'))?.prices).toEqual({ 'c5.xlarge': 0.2 });
  });

  it('reads the cache at most once per ttl in the API, and keeps the last table when a read fails', async () => {
    let now = 0;
    let reads = 0;
    let fail = false;
    const source = new CachedPrices({
      cache: { get: async (r) => { reads += 1; if (fail) throw new Error('throttled'); return cache.get(r); } },
      region: 'us-east-1',
      now: () => now,
      ttlMs: 1000,
    });
    const a = await source.current();
    await source.current();
    expect(reads).toBe(1);
    now = 2000;
    fail = true;
    expect(await source.current()).toEqual(a);
    expect(reads).toBe(2);
  });
});

describe('Prices in plans', () => {
  const spec = resolveSpec({ overrides: { instanceType: 'c5.xlarge', nWorkers: 3 } });

  it('uses the live price and names its source and date; otherwise the static table with its date', () => {
    const live = planCluster(spec, { prices: { region: 'us-east-1', asOf: '2026-12-05T10:00:00.000Z', prices: { 'c5.xlarge': 0.192 } } });
    expect(live.pricePerInstanceHour).toBe(0.192);
    expect(live.priceSource).toBe('aws-price-list-api on-demand linux us-east-1 2026-12-05T10:00:00.000Z');
    const uncovered = planCluster(spec, { prices: { region: 'us-east-1', asOf: '2026-12-05T10:00:00.000Z', prices: { 'm5.large': 0.1 } } });
    expect(uncovered.pricePerInstanceHour).toBe(0.17);
    expect(uncovered.priceSource).toContain(PRICE_DATE);
  });

  it('rejects cached garbage field by field: unknown types, negative or absurd prices, __proto__', () => {
    const table = parsePriceTable({ region: 'us-east-1', asOf: '2026-12-05T10:00:00Z', prices: JSON.parse('{"c5.xlarge": 0.19, "m5.large": -1, "x.huge": 2, "r5.large": 1e9, "__proto__": 5, "t3.micro": "0.01"}') });
    expect(table?.prices).toEqual({ 'c5.xlarge': 0.19 });
    expect(Object.getPrototypeOf(table?.prices)).toBeNull();
    expect(parsePriceTable({ region: 'us-east-1', asOf: 'yesterday', prices: {} })).toBeUndefined();
    expect(parsePriceTable([])).toBeUndefined();
  });

  it('prices the estimates of the API in the cached region', () => {
    const service = new ClusterService({
      store: {} as never,
      queue: {} as never,
      clock: new ManualClock(0),
      ids: new SequentialIds(),
      prices: { region: 'eu-west-1', asOf: '2026-12-05T10:00:00.000Z', prices: { 'c5.xlarge': 0.194 } },
    });
    const { plan } = service.estimate({ overrides: { instanceType: 'c5.xlarge', nWorkers: 3 } });
    expect(plan.region).toBe('eu-west-1');
    expect(plan.pricePerInstanceHour).toBe(0.194);
  });
});
