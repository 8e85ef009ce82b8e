/**
 * Cost over time, one uPlot chart per dimension (user, namespace, job): the
 * running total of this month per key, each key's linear month forecast
 * (dashed, from now to the month's end) and its budget (dotted), from
 * `GET /costs/series`. A table beside each chart carries the same figures as
 * text (colour and canvas are never the only carriers).
 */
import uPlot from 'uplot';
import type { CostSeries } from '../../../shared/cost/series.ts';
import { $, api, money, row } from './dom.ts';

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22', '#393b79', '#637939'];
const DIMENSIONS = ['user', 'namespace', 'job'] as const;
type Dimension = (typeof DIMENSIONS)[number];
const charts = new Map<Dimension, uPlot>();

/** uPlot's aligned data: x = end of each day bucket (capped at now), then the month's end for the forecasts. */
export function chartData(s: CostSeries, monthEnd: number): { data: uPlot.AlignedData; series: uPlot.Series[]; budgets: number[] } {
  const now = Date.parse(s.asOf);
  const step = s.interval === 'hour' ? 3_600_000 : 86_400_000;
  const xs = s.buckets.map((b) => Math.min(b + step, now) / 1000);
  xs.push(monthEnd / 1000);
  const data: Array<Array<number | null>> = [xs];
  const series: uPlot.Series[] = [{}];
  const last = xs.length - 2;
  s.series.forEach((line, i) => {
    const stroke = PALETTE[i % PALETTE.length] as string;
    data.push([...line.cumulative, null]);
    series.push({ label: line.key, stroke, width: 2, value: (_u, v) => (v == null ? '' : '$' + v.toFixed(2)) });
    // Forecast: from the month-to-date now to the forecast at the month's end.
    const f: Array<number | null> = xs.map(() => null);
    f[last] = line.cumulative[last] ?? 0;
    f[last + 1] = line.month.forecast;
    data.push(f);
    series.push({ label: line.key + ' forecast', stroke, width: 1, dash: [6, 4], spanGaps: true, value: (_u, v) => (v == null ? '' : '$' + v.toFixed(2)) });
  });
  // One dotted line per distinct budget (most keys share the default).
  const budgets = [...new Set(s.series.flatMap((l) => (l.budget === undefined ? [] : [l.budget])))].sort((a, b) => a - b);
  for (const b of budgets) {
    data.push(xs.map(() => b));
    series.push({ label: 'budget $' + b, stroke: '#444', width: 1, dash: [2, 3], value: () => '$' + b });
  }
  return { data: data as uPlot.AlignedData, series, budgets };
}

function render(dim: Dimension, s: CostSeries): void {
  const box = $('chart-' + dim);
  const scaleToBudgets = ($('scale-budgets') as HTMLInputElement).checked;
  const d = new Date(Date.parse(s.asOf));
  const monthEnd = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  const { data, series, budgets } = chartData(s, monthEnd);
  let top = 0.01;
  for (const line of s.series) top = Math.max(top, line.total, line.month.forecast);
  if (scaleToBudgets) for (const b of budgets) top = Math.max(top, b);
  const width = Math.max(280, Math.min(640, box.clientWidth || 420));
  const opts: uPlot.Options = {
    width,
    height: 220,
    title: 'by ' + dim,
    series,
    scales: { x: { time: true }, y: { range: () => [0, top * 1.1] } },
    axes: [{}, { values: (_u, ticks) => ticks.map((t) => '$' + t.toFixed(top < 0.1 ? 3 : top < 10 ? 2 : 0)), size: 60 }],
    legend: { live: false },
  };
  charts.get(dim)?.destroy();
  const chart = new uPlot(opts, data, box);
  charts.set(dim, chart);
  // For people reading the page source and for the browser test: what the chart was given.
  box.dataset.keys = JSON.stringify(s.series.map((l) => l.key));
  box.dataset.totals = JSON.stringify(Object.fromEntries(s.series.map((l, i) => [l.key, (chart.data[1 + 2 * i] as Array<number | null>)[xs(chart) - 2]])));
  box.dataset.forecasts = JSON.stringify(Object.fromEntries(s.series.map((l, i) => [l.key, (chart.data[2 + 2 * i] as Array<number | null>)[xs(chart) - 1]])));
  box.dataset.budgets = JSON.stringify(budgets);
  // The same figures as text.
  const rows = s.series.map((l) => {
    const tr = row(l.key, [money(l.total), money(l.month.monthToDate), money(l.month.forecast), l.budget === undefined ? '' : money(l.budget), l.budget ? Math.round((100 * l.month.forecast) / l.budget) + ' %' : '']);
    tr.dataset.key = l.key;
    return tr;
  });
  ($('cost-' + dim).querySelector('tbody') as HTMLElement).replaceChildren(...rows);
}

const xs = (u: uPlot): number => (u.data[0] as ArrayLike<number>).length;

export async function refreshCharts(): Promise<void> {
  const answers = await Promise.all(DIMENSIONS.map((g) => api<{ series: CostSeries }>('GET', '/costs/series?interval=day&groupBy=' + g)));
  DIMENSIONS.forEach((dim, i) => render(dim, (answers[i] as { series: CostSeries }).series));
  $('cost-month').textContent = 'This month so far $' + money(answers[0]?.series.month.monthToDate) + ', forecast $' + money(answers[0]?.series.month.forecast) + ' for the month.';
}
