/**
 * The main job's prices as a researcher keeps them: a Parquet dataset
 * partitioned by date (`prices/date=YYYY-MM-DD/part-….parquet` plus recc's
 * manifest) in the configured datastores, read through the read order
 * (`RECC_DATASTORES_READ=FP_LOCAL,S3`), each partition reported with the
 * store it came from. With no configuration everything is the LOCAL store
 * under `.recc/data`, and a missing dataset is generated there (seeded, so
 * every machine makes the same one).
 */
import { tableFromArrays } from 'apache-arrow';
import { openDatastores, type Datastores } from '../adapters/datastores/session.ts';
import { openDataset, writeDataset } from '../adapters/tables/index.ts';
import { DatastoreNotFoundError } from '../shared/datastores/errors.ts';
import { mapPool } from '../shared/datastores/fallthrough.ts';
import { generatePrices, type DayPrices } from './dataset.ts';

export const PRICES_PATH = 'prices';

export interface LoadedPrices {
  dates: string[];
  /** One entry per date, oldest first. */
  days: DayPrices[];
  /** Partition file → the store it was read from. */
  sources: Array<{ key: string; from: string; cachedFrom?: string }>;
  /** Whether this run generated the dataset (into the write target). */
  created: boolean;
  writeTarget: string;
}

/** Writes the synthetic dataset to `store` (the write target by default) through writeDataset. */
export async function writePrices(ds: Datastores, options: { securities?: number; years?: number } = {}): Promise<number> {
  const { dates, symbols, close, volume } = generatePrices(options);
  const n = symbols.length;
  const rows = dates.length * n;
  const date: string[] = new Array(rows);
  const symbol: string[] = new Array(rows);
  for (let d = 0; d < dates.length; d += 1) {
    for (let i = 0; i < n; i += 1) {
      date[d * n + i] = dates[d] as string;
      symbol[d * n + i] = symbols[i] as string;
    }
  }
  const table = tableFromArrays({ date, symbol, close, volume });
  await writeDataset(ds.writeTarget, PRICES_PATH, table, { partitionBy: ['date'] });
  return dates.length;
}

/**
 * The prices of every date, read through the read order with the cache; the
 * dataset is generated first when no store in the read order has it.
 */
export async function loadPrices(ds: Datastores, options: { concurrency?: number } = {}): Promise<LoadedPrices> {
  let dataset = openDataset(ds.view, PRICES_PATH);
  let created = false;
  if (!(await present(dataset))) {
    await writePrices(ds);
    created = true;
    dataset = openDataset(ds.view, PRICES_PATH);
    if (!(await present(dataset))) {
      throw new Error(`wrote the prices to ${ds.writeTarget.name}, which is not in the read order (${ds.config.read.join(', ')}); add it to RECC_DATASTORES_READ`);
    }
  }
  const partitions = (await dataset.partitions()).sort((a, b) => (a.dir < b.dir ? -1 : 1));
  const before = ds.reader.report.length;
  const days = await mapPool(partitions, options.concurrency ?? ds.config.concurrency, async (p) => {
    const t = await dataset.readPartition(p, { columns: ['symbol', 'close'] });
    const symbols = t.getChild('symbol')?.toArray() as unknown as string[];
    const close = Float64Array.from(t.getChild('close')?.toArray() as ArrayLike<number>);
    return { date: String(p.values.date), symbols: [...symbols], close };
  });
  await ds.close();
  const files = new Set(partitions.flatMap((p) => p.files.map((f) => f.key)));
  const sources = ds.reader.report.slice(before).filter((r) => files.has(r.key));
  return { dates: days.map((d) => d.date), days, sources, created, writeTarget: ds.writeTarget.name };
}

/** Whether any store in the read order has the dataset (its manifest). */
async function present(dataset: ReturnType<typeof openDataset>): Promise<boolean> {
  try {
    return (await dataset.manifest()) !== undefined;
  } catch (err) {
    if (err instanceof DatastoreNotFoundError) return false;
    throw err;
  }
}

/**
 * "where each partition came from", one line per run of consecutive
 * partitions from the same store: `prices/date=2023-01-02 … date=2023-06-30
 * (129 partitions) from S3`.
 */
export function describeSources(sources: LoadedPrices['sources']): string[] {
  const sorted = [...sources].sort((a, b) => (a.key < b.key ? -1 : 1));
  const out: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    const first = sorted[i] as LoadedPrices['sources'][number];
    const where = `${first.from}${first.cachedFrom ? ` (cached copy of ${first.cachedFrom})` : ''}`;
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1]?.from === first.from && sorted[j + 1]?.cachedFrom === first.cachedFrom) j += 1;
    const dir = (k: string) => k.slice(0, k.lastIndexOf('/'));
    const last = sorted[j] as LoadedPrices['sources'][number];
    out.push(i === j ? `loaded ${dir(first.key)} from ${where}` : `loaded ${dir(first.key)} … ${dir(last.key).slice(PRICES_PATH.length + 1)} (${j - i + 1} partitions) from ${where}`);
    i = j + 1;
  }
  return out;
}

export { openDatastores };
