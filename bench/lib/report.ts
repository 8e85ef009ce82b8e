import { MEASURES, type MeasureDef } from './measures.ts';

/**
 * Turns raw results from the runners into report rows (recc, Dask stock,
 * Dask with worker-saturation inf, the better of the two, ratio, target, met)
 * and renders them as JSON lines, a terminal table or Markdown. Pure.
 */

/** One figure written by a runner (recc child or the Dask script). */
export interface RawResult {
  name: string;
  value: number | null;
  unit: string;
  /** `recc`, `stock` or `inf`. */
  config?: string;
  [extra: string]: unknown;
}

export interface Results {
  recc: Map<string, RawResult>;
  daskStock: Map<string, RawResult>;
  daskInf: Map<string, RawResult>;
  /** Per group: why it produced nothing (crash, timeout, engine missing). */
  errors: Map<string, string>;
  /** Per group: problems that did not cost the figure (a crash followed by a good retry). */
  warnings: Map<string, string>;
}

export interface Row {
  name: string;
  label: string;
  unit: string;
  better: MeasureDef['better'];
  recc: number | null;
  /** The better of the two Dask configurations. */
  dask: number | null;
  daskStock: number | null;
  daskInf: number | null;
  /** Which Dask configuration `dask` comes from. */
  daskConfig: 'stock' | 'inf' | null;
  /** How many times better recc is than the better Dask (>1 means recc wins). */
  ratio: number | null;
  /** A reference figure such as the raw loopback ceiling. */
  value?: number | null;
  target?: string;
  /** The threshold the target resolved to in this run. */
  targetValue?: number | null;
  met?: boolean | null;
  note?: string;
  /** Extra fields the runners wrote (sizes, samples, per-process cost per task), by system. */
  details?: Record<string, Record<string, unknown>>;
}

export function emptyResults(): Results {
  return { recc: new Map(), daskStock: new Map(), daskInf: new Map(), errors: new Map(), warnings: new Map() };
}

/** The fields of a raw result beyond name, value, unit and config. */
export function extras(r: RawResult | undefined): Record<string, unknown> | undefined {
  if (!r) return undefined;
  const { name: _n, value: _v, unit: _u, config: _c, ...rest } = r;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

function num(r: RawResult | undefined): number | null {
  return r && typeof r.value === 'number' && Number.isFinite(r.value) ? r.value : null;
}

/** The better of two figures given the direction; null-safe. */
export function better(
  a: number | null,
  b: number | null,
  direction: MeasureDef['better'],
): { value: number | null; which: 'a' | 'b' | null } {
  if (a === null && b === null) return { value: null, which: null };
  if (b === null) return { value: a, which: 'a' };
  if (a === null) return { value: b, which: 'b' };
  const bWins = direction === 'higher' ? b > a : b < a;
  return bWins ? { value: b, which: 'b' } : { value: a, which: 'a' };
}

/** recc/dask for higher-is-better, dask/recc for lower-is-better; null when undefined. */
export function ratio(recc: number | null, dask: number | null, direction: MeasureDef['better']): number | null {
  if (recc === null || dask === null) return null;
  const r = direction === 'higher' ? recc / dask : dask / recc;
  return Number.isFinite(r) ? r : null;
}

export function meetsTarget(value: number | null, op: '>=' | '<=', threshold: number | null): boolean | null {
  if (value === null || threshold === null) return null;
  return op === '>=' ? value >= threshold : value <= threshold;
}

export function buildRows(results: Results, measures: readonly MeasureDef[] = MEASURES): Row[] {
  const loopback = num(results.recc.get('loopback_raw'));
  const rows: Row[] = [];
  for (const m of measures) {
    const recc = m.reference ? null : num(results.recc.get(m.name));
    const daskStock = m.compared ? num(results.daskStock.get(m.name)) : null;
    const daskInf = m.compared ? num(results.daskInf.get(m.name)) : null;
    const best = better(daskStock, daskInf, m.better);
    const row: Row = {
      name: m.name,
      label: m.label,
      unit: m.unit,
      better: m.better,
      recc,
      dask: best.value,
      daskStock,
      daskInf,
      daskConfig: best.which === 'a' ? 'stock' : best.which === 'b' ? 'inf' : null,
      ratio: ratio(recc, best.value, m.better),
    };
    if (m.reference) row.value = num(results.recc.get(m.name));
    const details: Record<string, Record<string, unknown>> = {};
    const put = (k: string, r: RawResult | undefined): void => {
      const e = extras(r);
      if (e) details[k] = e;
    };
    put('recc', results.recc.get(m.name));
    if (m.compared) {
      put('daskStock', results.daskStock.get(m.name));
      put('daskInf', results.daskInf.get(m.name));
    }
    if (Object.keys(details).length > 0) row.details = details;
    // On a shared machine, say how much CPU other processes took meanwhile.
    const others = details.recc?.otherCores;
    if (typeof others === 'number') row.note = `other processes used ${others.toFixed(1)} cores meanwhile`;
    if (m.target) {
      let threshold: number | null = m.target.value ?? null;
      if (m.name === 'transfer') {
        // ≥ Dask's and ≥ 50 % of the raw loopback copy measured in the same run.
        threshold = best.value !== null && loopback !== null ? Math.max(best.value, 0.5 * loopback) : null;
        if (recc !== null && loopback !== null) row.note = `${Math.round((100 * recc) / loopback)}% of raw loopback`;
      }
      row.target = m.target.text;
      row.targetValue = threshold;
      row.met = meetsTarget(recc, m.target.op, threshold);
    }
    rows.push(row);
  }
  return rows;
}

/** Only rows that carry at least one figure (groups not selected are left out). */
export function presentRows(rows: readonly Row[]): Row[] {
  return rows.filter((r) => r.recc !== null || r.dask !== null || (r.value ?? null) !== null);
}

/** The `--json` line of a row: `{name, recc, dask, ratio, unit, target?, met?, …}`. */
export function rowToJson(row: Row): string {
  const out: Record<string, unknown> = {
    name: row.name,
    recc: row.recc,
    dask: row.dask,
    ratio: row.ratio,
    unit: row.unit,
  };
  if (row.target !== undefined) {
    out.target = row.target;
    out.targetValue = row.targetValue ?? null;
    out.met = row.met ?? null;
  }
  out.better = row.better;
  out.daskStock = row.daskStock;
  out.daskInf = row.daskInf;
  out.daskConfig = row.daskConfig;
  if (row.value !== undefined) out.value = row.value;
  if (row.note !== undefined) out.note = row.note;
  if (row.details !== undefined) out.details = row.details;
  return JSON.stringify(out);
}

/** Human formatting: thousands separators for large figures, 2–3 significant decimals for small ones. */
export function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a === 0) return '0';
  return v.toPrecision(2);
}

export function formatRatio(r: number | null): string {
  if (r === null) return '—';
  return `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

function metText(row: Row): string {
  if (row.target === undefined) return '';
  if (row.met === true) return 'met';
  if (row.met === false) return 'MISSED';
  return 'n/a';
}

const HEADER = ['measure', 'unit', 'recc', 'Dask best', 'Dask stock', 'Dask sat=inf', 'recc vs Dask', 'target', 'met'];

function cells(row: Row): string[] {
  const recc = row.value !== undefined ? `(${formatNumber(row.value)})` : formatNumber(row.recc);
  return [
    row.label + (row.note ? ` [${row.note}]` : ''),
    row.unit,
    recc,
    formatNumber(row.dask),
    formatNumber(row.daskStock),
    formatNumber(row.daskInf),
    formatRatio(row.ratio),
    row.target ?? '',
    metText(row),
  ];
}

/** Plain-text table, columns padded; numbers right-aligned. */
export function renderTable(rows: readonly Row[]): string {
  const body = rows.map(cells);
  const all = [HEADER, ...body];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => [...r[i]!].length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => {
        const pad = ' '.repeat(widths[i]! - [...c].length);
        return i >= 2 && i <= 6 ? pad + c : c + pad;
      })
      .join('  ')
      .trimEnd();
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(HEADER), sep, ...body.map(line)].join('\n');
}

/** GitHub-flavoured Markdown table, for the README. */
export function renderMarkdown(rows: readonly Row[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = [`| ${HEADER.join(' | ')} |`, `|${HEADER.map((_, i) => (i >= 2 && i <= 6 ? '---:' : '---')).join('|')}|`];
  for (const r of rows) out.push(`| ${cells(r).map(esc).join(' | ')} |`);
  return out.join('\n');
}

/** One line per target: met, missed, or not measured. */
export function summariseTargets(rows: readonly Row[]): { met: number; missed: number; unmeasured: number; lines: string[] } {
  let met = 0;
  let missed = 0;
  let unmeasured = 0;
  const lines: string[] = [];
  for (const r of rows) {
    if (r.target === undefined) continue;
    if (r.met === true) met++;
    else if (r.met === false) missed++;
    else unmeasured++;
    const threshold = r.targetValue !== undefined && r.targetValue !== null ? ` (= ${formatNumber(r.targetValue)})` : '';
    lines.push(`${metText(r).padEnd(6)}  ${r.label}: ${formatNumber(r.recc)} ${r.unit}, target ${r.target}${threshold}`);
  }
  return { met, missed, unmeasured, lines };
}

/**
 * One line per process for rows whose recc details carry `perTask` costs:
 * CPU µs and read/write syscalls per task of the client, scheduler and workers.
 */
export function renderCosts(rows: readonly Row[]): string {
  const lines: string[] = [];
  for (const r of rows) {
    const per = r.details?.recc?.perTask as Record<string, { cpuUsPerTask: number; sysUsPerTask?: number; readsPerTask: number; writesPerTask: number }> | undefined;
    if (!per) continue;
    lines.push(`${r.label}:`);
    for (const [role, c] of Object.entries(per)) {
      const sys = c.sysUsPerTask === undefined ? '' : ` (${formatNumber(c.sysUsPerTask)} kernel)`;
      lines.push(`  ${role.padEnd(10)} ${formatNumber(c.cpuUsPerTask).padStart(7)} µs CPU${sys}  ${formatNumber(c.readsPerTask).padStart(6)} reads  ${formatNumber(c.writesPerTask).padStart(6)} writes  per task`);
    }
  }
  return lines.join('\n');
}
