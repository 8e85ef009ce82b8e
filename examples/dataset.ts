/**
 * A synthetic, date-partitioned dataset of daily prices: `securities`
 * symbols over `years` of business days, from a one-factor model with
 * sector factors and occasional jumps (so risk varies over time). Seeded, so
 * every run makes the same files:
 *
 *   <dir>/date=YYYY-MM-DD/prices.csv   symbol,close,volume
 *   <dir>/_SUCCESS                      written last: the dataset is complete
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface DatasetOptions {
  dir: string;
  securities?: number;
  years?: number;
  startDate?: string;
  seed?: number;
}

/** Business days (Mon–Fri) from `start`, `count` of them, as YYYY-MM-DD. */
export function businessDays(start: string, count: number): string[] {
  const out: string[] = [];
  const d = new Date(`${start}T00:00:00Z`);
  while (out.length < count) {
    const wd = d.getUTCDay();
    if (wd !== 0 && wd !== 6) out.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** One date's prices as the backfill's tasks take them. */
export interface DayPrices {
  date: string;
  symbols: string[];
  close: Float64Array;
}

/**
 * The synthetic prices in memory: `close` and `volume` hold one row per
 * (date, symbol), date-major (row = dateIndex × symbols + symbolIndex).
 */
export function generatePrices(options: Omit<DatasetOptions, 'dir'> = {}): { dates: string[]; symbols: string[]; close: Float64Array; volume: Float64Array } {
  const n = options.securities ?? 250;
  const dates = businessDays(options.startDate ?? '2023-01-02', Math.round((options.years ?? 2) * 261));
  const rand = rng(options.seed ?? 20261127);
  const sectors = 11;
  const symbols = Array.from({ length: n }, (_, i) => `S${String(i + 1).padStart(4, '0')}`);
  const sectorOf = symbols.map((_, i) => i % sectors);
  const beta = symbols.map(() => 0.6 + rand() * 0.8);
  const idioVol = symbols.map(() => 0.008 + rand() * 0.02);
  const price = symbols.map(() => 20 + rand() * 180);
  let regimeVol = 0.01;
  const close = new Float64Array(dates.length * n);
  const volume = new Float64Array(dates.length * n);
  for (let d = 0; d < dates.length; d += 1) {
    regimeVol = Math.min(0.04, Math.max(0.005, regimeVol * Math.exp(0.1 * gaussian(rand))));
    const market = gaussian(rand) * regimeVol;
    const sector = Array.from({ length: sectors }, () => gaussian(rand) * 0.006);
    for (let i = 0; i < n; i += 1) {
      const jump = rand() < 0.002 ? gaussian(rand) * 0.12 : 0;
      const ret = (beta[i] as number) * market + (sector[sectorOf[i] as number] as number) + gaussian(rand) * (idioVol[i] as number) + jump;
      price[i] = Math.max(0.5, (price[i] as number) * Math.exp(ret));
      // Rounded as the CSV always was, so every format holds the same numbers.
      close[d * n + i] = Number((price[i] as number).toFixed(4));
      volume[d * n + i] = Math.round(1e5 * (1 + 5 * Math.abs(ret) / 0.02) * (0.5 + rand()));
    }
  }
  return { dates, symbols, close, volume };
}

/** Make the CSV dataset unless it is complete already; returns its dates (oldest first). */
export async function ensureDataset(options: DatasetOptions): Promise<{ dates: string[]; created: boolean; dir: string }> {
  if (existsSync(join(options.dir, '_SUCCESS'))) {
    const present = (await readdir(options.dir)).filter((f) => f.startsWith('date=')).map((f) => f.slice(5)).sort();
    return { dates: present, created: false, dir: options.dir };
  }
  await mkdir(options.dir, { recursive: true });
  const { dates, symbols, close, volume } = generatePrices(options);
  const n = symbols.length;
  for (let d = 0; d < dates.length; d += 1) {
    let csv = 'symbol,close,volume\n';
    for (let i = 0; i < n; i += 1) csv += `${symbols[i]},${(close[d * n + i] as number).toFixed(4)},${volume[d * n + i]}\n`;
    const dir = join(options.dir, `date=${dates[d]}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'prices.csv'), csv);
  }
  await writeFile(join(options.dir, '_SUCCESS'), `${dates.length} dates, ${n} securities\n`);
  return { dates, created: true, dir: options.dir };
}
