/**
 * Interleaved A/B of engine groups between two worktrees (issue 20: "no
 * bench measure regresses by more than 5 % in the same run"). Each pair runs
 * the group once in each tree, the order alternating (AB, BA, AB, …) so a
 * drift in the machine's load falls on both arms alike. Reported per group:
 * the median and the quartiles of the per-pair ratio B/A of the figure, and
 * for throughput groups of the summed CPU µs per task over all processes
 * (steadier than wall time when other work shares the cores), with
 * /proc/loadavg at each run.
 *
 *   tsx bench/ab.ts --a /work/wt/noop-base --b /work/wt/noop --groups map_noop,tree_reduce,start --pairs 5 [--scale 0.5]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const flag = (name: string, dflt?: string): string => {
  const i = argv.indexOf(name);
  const v = i >= 0 ? argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`ab.ts: ${name} is required`);
  return v;
};
const trees = { A: flag('--a'), B: flag('--b') };
const groups = flag('--groups', 'map_noop,tree_reduce,start').split(',');
const pairs = Number(flag('--pairs', '5'));
const scale = flag('--scale', '1');
const dir = mkdtempSync(join(tmpdir(), 'recc-ab-'));

interface Run {
  value: number;
  /** Every figure the group emitted, by name (the first is `value`). */
  values: Record<string, number>;
  cpuUs: number | null;
  roles: string;
  load: number;
}

function runOnce(tree: string, group: string, tag: string): Run {
  const out = join(dir, `${tag}.jsonl`);
  const args = ['--import', 'tsx', join(tree, 'bench/recc/measure.ts'), '--group', group, '--out', out, '--deadline', '300'];
  if (scale !== '1') args.push('--scale', scale);
  const r = spawnSync(process.execPath, args, { cwd: tree, stdio: ['ignore', 'ignore', 'pipe'], timeout: 330_000 });
  const lines = readFileSync(out, 'utf8').split('\n').filter((l) => l.startsWith('{'));
  const line = lines[0];
  if (r.status !== 0 || !line) throw new Error(`${tag} failed (${r.status ?? r.signal}): ${r.stderr.toString().slice(-2000)}`);
  const o = JSON.parse(line) as { value: number; perTask?: Record<string, { cpuUsPerTask: number }> };
  const values: Record<string, number> = {};
  for (const l of lines) {
    const e = JSON.parse(l) as { name?: string; value: number | null };
    if (typeof e.value === 'number') values[e.name ?? `#${Object.keys(values).length}`] = e.value;
  }
  const cpuUs = o.perTask ? Object.values(o.perTask).reduce((s, p) => s + p.cpuUsPerTask, 0) : null;
  const roles = o.perTask ? Object.entries(o.perTask).map(([k, p]) => `${k}:${p.cpuUsPerTask.toFixed(1)}`).join(' ') : '';
  return { value: o.value, values, cpuUs, roles, load: loadavg()[0]! };
}

function quartiles(xs: number[]): [number, number, number] {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => {
    const i = (s.length - 1) * p;
    const lo = Math.floor(i);
    return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (i - lo);
  };
  return [q(0.25), q(0.5), q(0.75)];
}

const f = (x: number): string => x.toFixed(3);
for (const group of groups) {
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  /** Ratios of every further figure the group emits (latency_p99 beside latency_p50, …). */
  const more = new Map<string, number[]>();
  for (let p = 0; p < pairs; p++) {
    const order: Array<'A' | 'B'> = p % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    const got: Partial<Record<'A' | 'B', Run>> = {};
    for (const arm of order) got[arm] = runOnce(trees[arm], group, `${group}-${p}-${arm}`);
    const a = got.A!;
    const b = got.B!;
    ratios.push(b.value / a.value);
    for (const [name, av] of Object.entries(a.values).slice(1)) {
      const bv = b.values[name];
      if (bv !== undefined && av !== 0) more.set(name, [...(more.get(name) ?? []), bv / av]);
    }
    if (a.cpuUs !== null && b.cpuUs !== null) cpuRatios.push(b.cpuUs / a.cpuUs);
    process.stdout.write(
      `${group} pair ${p} (${order.join('')}): A=${a.value.toPrecision(4)} B=${b.value.toPrecision(4)} B/A=${f(b.value / a.value)}` +
        (a.cpuUs !== null && b.cpuUs !== null ? ` cpuUs/task A=${a.cpuUs.toFixed(1)} B=${b.cpuUs.toFixed(1)} B/A=${f(b.cpuUs / a.cpuUs)}` : '') +
        ` load ${a.load.toFixed(2)}/${b.load.toFixed(2)}` +
        (a.roles ? ` [A ${a.roles}] [B ${b.roles}]` : '') +
        Object.entries(a.values)
          .slice(1)
          .map(([name, av]) => ` ${name} A=${av.toPrecision(4)} B=${b.values[name]?.toPrecision(4) ?? '-'}`)
          .join('') +
        '\n',
    );
  }
  const [q1, med, q3] = quartiles(ratios);
  let line = `${group}: B/A median ${f(med)} IQR ${f(q1)}–${f(q3)} min ${f(Math.min(...ratios))} max ${f(Math.max(...ratios))} (${pairs} pairs)`;
  if (cpuRatios.length > 0) {
    const [c1, cm, c3] = quartiles(cpuRatios);
    line += `; CPU/task B/A median ${f(cm)} IQR ${f(c1)}–${f(c3)}`;
  }
  process.stdout.write(`${line}\n`);
  for (const [name, rs] of more) {
    const [m1, mm, m3] = quartiles(rs);
    process.stdout.write(`${group} ${name}: B/A median ${f(mm)} IQR ${f(m1)}–${f(m3)} (${rs.length} pairs)\n`);
  }
}
rmSync(dir, { recursive: true, force: true });
