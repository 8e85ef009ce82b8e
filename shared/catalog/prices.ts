import { instanceTypeNames } from './instances.ts';

/**
 * On-demand EC2 prices loaded from the AWS Price List API (Linux, shared
 * tenancy, no pre-installed software), one table per region, kept in the
 * clusters table and refreshed by the cost reporter
 * (adapters/pricing/price-list.ts). The planner uses it when it covers the
 * instance type and region, and otherwise the static dated table of
 * `instances.ts`, naming which one in `plan.priceSource`.
 */
export interface PriceTable {
  region: string;
  /** When the prices were read from the Price List API (ISO 8601). */
  asOf: string;
  /** USD per hour by instance type. */
  prices: Readonly<Record<string, number>>;
}

export const LIVE_PRICE_SOURCE = 'aws-price-list-api on-demand linux';

/** A cached table read back from storage, or undefined when it is not one (never trusted blindly). */
export function parsePriceTable(raw: unknown): PriceTable | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.region !== 'string' || typeof r.asOf !== 'string' || Number.isNaN(Date.parse(r.asOf))) return undefined;
  if (!r.prices || typeof r.prices !== 'object' || Array.isArray(r.prices)) return undefined;
  const known = new Set(instanceTypeNames());
  const prices: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const [name, value] of Object.entries(r.prices as Record<string, unknown>)) {
    if (known.has(name) && typeof value === 'number' && Number.isFinite(value) && value > 0 && value < 1000) prices[name] = value;
  }
  return { region: r.region, asOf: r.asOf, prices };
}

/** The live price of `instanceType` in `region`, when the table has one. */
export function livePrice(table: PriceTable | undefined, instanceType: string, region: string): number | undefined {
  if (!table || table.region !== region) return undefined;
  return Object.hasOwn(table.prices, instanceType) ? table.prices[instanceType] : undefined;
}

/** True when the table is older than `maxAgeMs` at `now` (or missing). */
export function isStale(table: PriceTable | undefined, now: number, maxAgeMs: number): boolean {
  return !table || now - Date.parse(table.asOf) > maxAgeMs;
}

/** Where the API gets the current table (adapters/pricing `CachedPrices`); undefined = the static table. */
export interface PriceSource {
  current(): Promise<PriceTable | undefined>;
}
