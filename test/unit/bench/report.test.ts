import { describe, expect, it } from 'vitest';
import { MEASURES, measureByName } from '../../../bench/lib/measures.ts';
import {
  better,
  buildRows,
  emptyResults,
  formatNumber,
  formatRatio,
  meetsTarget,
  presentRows,
  renderCosts,
  ratio,
  renderMarkdown,
  renderTable,
  rowToJson,
  summariseTargets,
  type RawResult,
  type Results,
} from '../../../bench/lib/report.ts';

function raw(name: string, value: number | null, config = 'recc'): RawResult {
  return { name, value, unit: measureByName(name)?.unit ?? '?', config };
}

function results(recc: Record<string, number>, stock: Record<string, number> = {}, inf: Record<string, number> = {}): Results {
  const r = emptyResults();
  for (const [k, v] of Object.entries(recc)) r.recc.set(k, raw(k, v));
  for (const [k, v] of Object.entries(stock)) r.daskStock.set(k, raw(k, v, 'stock'));
  for (const [k, v] of Object.entries(inf)) r.daskInf.set(k, raw(k, v, 'inf'));
  return r;
}

function row(rows: ReturnType<typeof buildRows>, name: string) {
  const found = rows.find((r) => r.name === name);
  if (!found) throw new Error(`no row ${name}`);
  return found;
}

describe('Function: better', () => {
  it('picks the larger figure when higher is better and the smaller when lower is better', () => {
    expect(better(650, 4300, 'higher')).toEqual({ value: 4300, which: 'b' });
    expect(better(10.5, 10.4, 'lower')).toEqual({ value: 10.4, which: 'b' });
    expect(better(10.4, 10.5, 'lower')).toEqual({ value: 10.4, which: 'a' });
  });

  it('falls back to the figure that exists when one is missing', () => {
    expect(better(null, 3, 'higher')).toEqual({ value: 3, which: 'b' });
    expect(better(2, null, 'lower')).toEqual({ value: 2, which: 'a' });
    expect(better(null, null, 'lower')).toEqual({ value: null, which: null });
  });
});

describe('Function: ratio', () => {
  it('is recc/dask when higher is better and dask/recc when lower is better', () => {
    expect(ratio(43_000, 4_300, 'higher')).toBe(10);
    expect(ratio(0.5, 10, 'lower')).toBe(20);
  });

  it('is null when a side is missing or the division is undefined', () => {
    expect(ratio(null, 1, 'higher')).toBeNull();
    expect(ratio(1, null, 'higher')).toBeNull();
    expect(ratio(0, 5, 'lower')).toBeNull();
  });
});

describe('Function: meetsTarget', () => {
  it('compares inclusively in the direction of the target', () => {
    expect(meetsTarget(50_000, '>=', 50_000)).toBe(true);
    expect(meetsTarget(49_999, '>=', 50_000)).toBe(false);
    expect(meetsTarget(0.5, '<=', 0.5)).toBe(true);
    expect(meetsTarget(0.51, '<=', 0.5)).toBe(false);
    expect(meetsTarget(null, '<=', 0.5)).toBeNull();
  });
});

describe('Function: buildRows', () => {
  it('compares recc with the better Dask configuration and marks targets', () => {
    // Prepare
    const res = results({ map_noop: 60_000, latency_p50: 0.8 }, { map_noop: 650, latency_p50: 10.5 }, { map_noop: 4_300, latency_p50: 10.6 });

    // Act
    const rows = buildRows(res);

    // Assess
    const map = row(rows, 'map_noop');
    expect(map).toMatchObject({ recc: 60_000, dask: 4_300, daskStock: 650, daskInf: 4_300, daskConfig: 'inf', met: true, targetValue: 50_000 });
    expect(map.ratio).toBeCloseTo(60_000 / 4_300);
    const p50 = row(rows, 'latency_p50');
    expect(p50).toMatchObject({ recc: 0.8, dask: 10.5, daskConfig: 'stock', met: false });
    expect(p50.ratio).toBeCloseTo(10.5 / 0.8);
  });

  it('sets the transfer target to the larger of Dask and half the raw loopback copy', () => {
    // Prepare: half of loopback (1,100) is above Dask (900)
    const res = results({ transfer: 1_000, loopback_raw: 2_200 }, { transfer: 800 }, { transfer: 900 });

    // Act
    const t = row(buildRows(res), 'transfer');

    // Assess
    expect(t.targetValue).toBe(1_100);
    expect(t.met).toBe(false);
    expect(t.note).toBe('45% of raw loopback');
  });

  it('meets the transfer target when recc beats Dask and half the loopback', () => {
    const res = results({ transfer: 1_900, loopback_raw: 2_200 }, { transfer: 1_800 }, { transfer: 1_500 });
    const t = row(buildRows(res), 'transfer');
    expect(t.targetValue).toBe(1_800);
    expect(t.met).toBe(true);
  });

  it('leaves the transfer target unresolved when the loopback ceiling was not measured', () => {
    const t = row(buildRows(results({ transfer: 1_900 }, { transfer: 1_800 })), 'transfer');
    expect(t.targetValue).toBeNull();
    expect(t.met).toBeNull();
  });

  it('reports the loopback ceiling as a reference value, not as recc', () => {
    const lb = row(buildRows(results({ loopback_raw: 2_100 })), 'loopback_raw');
    expect(lb.recc).toBeNull();
    expect(lb.value).toBe(2_100);
    expect(lb.target).toBeUndefined();
  });

  it('never fills a Dask column for recc-only measures', () => {
    const res = results({ graph_1m_scheduler_peak_rss: 900 }, { graph_1m_scheduler_peak_rss: 1 });
    const g = row(buildRows(res), 'graph_1m_scheduler_peak_rss');
    expect(g).toMatchObject({ recc: 900, dask: null, ratio: null, met: true });
  });

  it('ignores non-finite figures when a runner wrote NaN or null', () => {
    const res = emptyResults();
    res.recc.set('start', { name: 'start', value: Number.NaN, unit: 's' });
    res.daskStock.set('start', { name: 'start', value: null, unit: 's' });
    const s = row(buildRows(res), 'start');
    expect(s).toMatchObject({ recc: null, dask: null, met: null });
  });

  it('yields one row per catalogue measure, and presentRows drops the empty ones', () => {
    const rows = buildRows(results({ start: 0.2 }));
    expect(rows.map((r) => r.name)).toEqual(MEASURES.map((m) => m.name));
    expect(presentRows(rows).map((r) => r.name)).toEqual(['start']);
  });
});

describe('Function: rowToJson', () => {
  it('writes name, recc, dask, ratio, unit, target and met on one line', () => {
    // Prepare
    const [r] = presentRows(buildRows(results({ start: 0.2 }, { start: 0.5 }, { start: 0.6 })));

    // Act
    const line = rowToJson(r!);

    // Assess
    expect(line).not.toContain('\n');
    const obj = JSON.parse(line) as Record<string, unknown>;
    expect(obj).toMatchObject({ name: 'start', recc: 0.2, dask: 0.5, unit: 's', target: '≤ 0.3', met: true, daskStock: 0.5, daskInf: 0.6 });
    expect(obj.ratio).toBeCloseTo(2.5);
  });

  it('leaves target and met out when the measure has no target', () => {
    const [r] = presentRows(buildRows(results({ graph_1m_tasks_per_s: 70_000 })));
    const obj = JSON.parse(rowToJson(r!)) as Record<string, unknown>;
    expect(obj).not.toHaveProperty('target');
    expect(obj).not.toHaveProperty('met');
    expect(obj).toMatchObject({ name: 'graph_1m_tasks_per_s', recc: 70_000, dask: null, ratio: null });
  });
});

describe('Function: formatNumber / formatRatio', () => {
  it('formats by magnitude', () => {
    expect(formatNumber(52_345.6)).toBe('52,346');
    expect(formatNumber(123.4)).toBe('123');
    expect(formatNumber(10.46)).toBe('10.5');
    expect(formatNumber(2.345)).toBe('2.35');
    expect(formatNumber(0.4321)).toBe('0.43');
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(null)).toBe('—');
    expect(formatNumber(Number.NaN)).toBe('—');
  });

  it('formats ratios with a multiplication sign', () => {
    expect(formatRatio(13.96)).toBe('14.0×');
    expect(formatRatio(1.234)).toBe('1.23×');
    expect(formatRatio(250.4)).toBe('250×');
    expect(formatRatio(null)).toBe('—');
  });
});

describe('Function: renderTable / renderMarkdown', () => {
  const rows = presentRows(buildRows(results({ map_noop: 60_000, loopback_raw: 2_000 }, { map_noop: 650 }, { map_noop: 4_300 })));

  it('aligns every line of the table to the same column starts', () => {
    // Act
    const lines = renderTable(rows).split('\n');

    // Assess: header, separator, one line per row; the "unit" column starts at the same place on every line
    expect(lines).toHaveLength(2 + rows.length);
    const col = lines[0]!.indexOf('unit');
    expect(lines[2]!.slice(col, col + 'tasks/s'.length)).toBe('tasks/s');
    expect(lines[2]).toContain('60,000');
    expect(lines[2]).toContain('14.0×');
    expect(lines[2]).toMatch(/met$/);
    expect(lines[3]).toContain('(2,000)');
  });

  it('renders a Markdown table with one line per row and right-aligned number columns', () => {
    const md = renderMarkdown(rows).split('\n');
    expect(md).toHaveLength(2 + rows.length);
    expect(md[1]).toBe('|---|---|---:|---:|---:|---:|---:|---|---|');
    expect(md[2]!.startsWith('| map 20,000 no-op tasks | tasks/s | 60,000 |')).toBe(true);
  });
});

describe('Function: summariseTargets', () => {
  it('counts met, missed and unmeasured targets', () => {
    // Prepare: map met, p50 missed, start unmeasured (no figure means no row), transfer unresolved
    const rows = presentRows(buildRows(results({ map_noop: 60_000, latency_p50: 1, transfer: 10 })));

    // Act
    const s = summariseTargets(rows);

    // Assess
    expect(s).toMatchObject({ met: 1, missed: 1, unmeasured: 1 });
    expect(s.lines.find((l) => l.includes('p50'))).toMatch(/^MISSED/);
  });
});

describe('Function: renderCosts', () => {
  it('prints one line per process for rows with per-task costs, and nothing for others', () => {
    // Prepare
    const res = results({ start: 0.2 });
    res.recc.set('map_noop', {
      name: 'map_noop',
      value: 20_000,
      unit: 'tasks/s',
      tasks: 20_000,
      perTask: { client: { cpuUsPerTask: 12.5, readsPerTask: 0.02, writesPerTask: 0.01 }, scheduler: { cpuUsPerTask: 30, readsPerTask: 1, writesPerTask: 2 } },
    });

    // Act
    const rows = presentRows(buildRows(res));
    const text = renderCosts(rows);

    // Assess
    expect(text.split('\n')).toEqual([
      'map 20,000 no-op tasks:',
      '  client        12.5 µs CPU   0.020 reads   0.010 writes  per task',
      '  scheduler     30.0 µs CPU    1.00 reads    2.00 writes  per task',
    ]);
    expect(rows.find((r) => r.name === 'start')!.details).toBeUndefined();
    expect(JSON.parse(rowToJson(rows.find((r) => r.name === 'map_noop')!)).details.recc.tasks).toBe(20_000);
  });
});

describe('Function: buildRows (shared machine)', () => {
  it('notes how many cores other processes used when the runner measured it', () => {
    const res = results({});
    res.recc.set('cpu_efficiency', { name: 'cpu_efficiency', value: 0.5, unit: 'ratio', otherCores: 1.26 });
    const row = buildRows(res).find((r) => r.name === 'cpu_efficiency')!;
    expect(row.note).toBe('other processes used 1.3 cores meanwhile');
    expect(renderTable([row])).toContain('[other processes used 1.3 cores meanwhile]');
  });
});
