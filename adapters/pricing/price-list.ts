import { GetProductsCommand, type PricingClient } from '@aws-sdk/client-pricing';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { instanceTypeNames } from '../../shared/catalog/instances.ts';
import { isStale, parsePriceTable, type PriceSource, type PriceTable } from '../../shared/catalog/prices.ts';
import type { Logger } from '../../shared/core/logger.ts';

/**
 * EC2 on-demand prices from the AWS Price List API (`pricing:GetProducts`,
 * served from us-east-1), cached as one item per region in the clusters
 * table: `{pk: "PRICES#<region>", sk: "PRICES", table: <JSON>}`. The cost
 * reporter refreshes it once a day (`refreshPricesIfStale`); the API reads it
 * when it plans (`DynamoDbPriceCache.get`) and falls back to the static,
 * dated table of `shared/catalog/instances.ts` when it is missing or does not
 * cover the type, so no network is ever needed to plan.
 *
 * The filters are those of the AWS documentation's EC2 on-demand example:
 * Linux, shared tenancy, no pre-installed software, capacity status Used,
 * no license required; one product per instance type and region, whose
 * OnDemand term has one hourly price dimension in USD.
 */
export const PRICING_REGION = 'us-east-1';

type Client = Pick<PricingClient, 'send'>;

const filter = (Field: string, Value: string) => ({ Type: 'TERM_MATCH' as const, Field, Value });

/** The USD/hour of one Price List product (a JSON string), or undefined when it has none. */
export function onDemandHourlyUsd(priceListItem: string): { instanceType: string; usd: number } | undefined {
  let product: { product?: { attributes?: Record<string, string> }; terms?: { OnDemand?: Record<string, { priceDimensions?: Record<string, { unit?: string; pricePerUnit?: Record<string, string> }> }> } };
  try {
    product = JSON.parse(priceListItem) as typeof product;
  } catch {
    return undefined;
  }
  const instanceType = product.product?.attributes?.instanceType;
  if (!instanceType) return undefined;
  for (const term of Object.values(product.terms?.OnDemand ?? {})) {
    for (const dim of Object.values(term.priceDimensions ?? {})) {
      const usd = Number(dim.pricePerUnit?.USD);
      if (dim.unit === 'Hrs' && Number.isFinite(usd) && usd > 0) return { instanceType, usd };
    }
  }
  return undefined;
}

/** Fetch the on-demand prices of `instanceTypes` (default: the catalog) in `region`, a few requests at a time. */
export async function fetchOnDemandPrices(client: Client, region: string, options: { instanceTypes?: string[]; now?: () => Date; concurrency?: number } = {}): Promise<PriceTable> {
  const types = options.instanceTypes ?? instanceTypeNames();
  const prices: Record<string, number> = Object.create(null) as Record<string, number>;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < types.length) {
      const instanceType = types[next++] as string;
      let token: string | undefined;
      do {
        const page = await client.send(
          new GetProductsCommand({
            ServiceCode: 'AmazonEC2',
            FormatVersion: 'aws_v1',
            Filters: [
              filter('regionCode', region),
              filter('instanceType', instanceType),
              filter('operatingSystem', 'Linux'),
              filter('tenancy', 'Shared'),
              filter('preInstalledSw', 'NA'),
              filter('capacitystatus', 'Used'),
              filter('licenseModel', 'No License required'),
            ],
            MaxResults: 100,
            ...(token ? { NextToken: token } : {}),
          }),
        );
        for (const item of page.PriceList ?? []) {
          const found = onDemandHourlyUsd(typeof item === 'string' ? item : JSON.stringify(item));
          if (found && found.instanceType === instanceType) prices[instanceType] = found.usd;
        }
        token = page.NextToken;
      } while (token);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 4, types.length)) }, worker));
  return { region, asOf: (options.now?.() ?? new Date()).toISOString(), prices };
}

/** The cached price table of a region in the clusters table (one item per region). */
export class DynamoDbPriceCache {
  constructor(private readonly options: { client: Pick<DynamoDBDocumentClient, 'send'>; tableName: string }) {}

  private key(region: string): Record<string, string> {
    return { pk: `PRICES#${region}`, sk: 'PRICES' };
  }

  async get(region: string): Promise<PriceTable | undefined> {
    const out = await this.options.client.send(new GetCommand({ TableName: this.options.tableName, Key: this.key(region) }));
    const raw = out.Item?.table;
    if (typeof raw !== 'string') return undefined;
    try {
      return parsePriceTable(JSON.parse(raw));
    } catch {
      return undefined;
    }
  }

  /** Last writer wins: every writer writes a complete, fresher table. */
  async put(table: PriceTable): Promise<void> {
    await this.options.client.send(new PutCommand({ TableName: this.options.tableName, Item: { ...this.key(table.region), table: JSON.stringify(table), asOf: table.asOf } }));
  }
}

export interface PriceRefreshResult {
  region: string;
  refreshed: boolean;
  asOf?: string;
  prices?: number;
  error?: string;
}

/**
 * The cost reporter's step: when the cached table is older than `maxAgeMs`
 * (default a day), fetch a new one and store it. A table that came back
 * without a single price (a filter AWS renamed, an empty answer) is not
 * stored, so the last good one stays. Never throws: the cost report must not
 * fail because prices could not be refreshed; the static table still works.
 */
export async function refreshPricesIfStale(deps: { pricing: Client; cache: Pick<DynamoDbPriceCache, 'get' | 'put'>; region: string; now: () => Date; logger: Logger; maxAgeMs?: number }): Promise<PriceRefreshResult> {
  try {
    const cached = await deps.cache.get(deps.region);
    if (!isStale(cached, deps.now().getTime(), deps.maxAgeMs ?? 24 * 3600_000)) return { region: deps.region, refreshed: false, ...(cached ? { asOf: cached.asOf, prices: Object.keys(cached.prices).length } : {}) };
    const table = await fetchOnDemandPrices(deps.pricing, deps.region, { now: deps.now });
    const count = Object.keys(table.prices).length;
    if (count === 0) {
      deps.logger.warn('price list returned no price; keeping the cached table', { region: deps.region });
      return { region: deps.region, refreshed: false, error: 'no prices returned' };
    }
    await deps.cache.put(table);
    deps.logger.info('prices refreshed from the AWS Price List API', { region: deps.region, prices: count, asOf: table.asOf });
    return { region: deps.region, refreshed: true, asOf: table.asOf, prices: count };
  } catch (err) {
    deps.logger.warn('price refresh failed; plans use the cached or static prices', { region: deps.region, error: err });
    return { region: deps.region, refreshed: false, error: (err as Error)?.name ?? 'Error' };
  }
}

/**
 * The API's view of the cache: one read per `ttlMs` per container, the last
 * table kept when a read fails, and undefined (static prices) when there is
 * none. Never throws.
 */
export class CachedPrices implements PriceSource {
  private table: PriceTable | undefined;
  private readAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<PriceTable | undefined> | undefined;

  constructor(private readonly options: { cache: Pick<DynamoDbPriceCache, 'get'>; region: string; now?: () => number; ttlMs?: number; logger?: Logger }) {}

  async current(): Promise<PriceTable | undefined> {
    const now = (this.options.now ?? Date.now)();
    if (now - this.readAt < (this.options.ttlMs ?? 10 * 60_000)) return this.table;
    this.pending ??= this.options.cache
      .get(this.options.region)
      .then((t) => {
        this.table = t ?? this.table;
        return this.table;
      })
      .catch((err: unknown) => {
        this.options.logger?.warn('price cache unreadable; using the last or static prices', { error: err });
        return this.table;
      })
      .finally(() => {
        this.readAt = now;
        this.pending = undefined;
      });
    return this.pending;
  }
}
