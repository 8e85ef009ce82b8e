/**
 * `npm run bench`: recc and Dask distributed side by side on this machine,
 * same topology (2 worker processes × 1 thread, plus the client).
 *
 *   npm run bench                      table + targets
 *   npm run bench -- --json            one JSON object per measure per line
 *   npm run bench -- --quick --only map_noop,latency
 *
 * Every group runs in its own child process with a time limit, so a crash or
 * a hang in one measure never takes the others down. Progress goes to stderr.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir, cpus, totalmem, release, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValidationError, formatErrorForHumans } from '../shared/core/errors.ts';
import { parseArgs, USAGE, type BenchOptions } from './lib/args.ts';
import { readResults, runChild, tail } from './lib/child.ts';
import { busyFraction, readCpuTotals } from './lib/proc.ts';
import { DASK_GROUPS, GROUP_BUDGET, MEASURES, type Group } from './lib/measures.ts';
import { buildRows, emptyResults, presentRows, renderCosts, renderMarkdown, renderTable, rowToJson, summariseTargets, type Results } from './lib/report.ts';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const PYTHON = '/usr/bin/python3';

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** Dask comes from Debian's python3-distributed (NumPy for the transfer payload, python3-dask and pandas for the dataframe group); install them when missing. */
function ensureDask(): string | null {
  const probe = (): boolean => spawnSync(PYTHON, ['-c', 'import distributed, numpy, dask.dataframe, pandas'], { stdio: 'ignore' }).status === 0;
  if (probe()) return null;
  log('python3-distributed is missing; installing it with apt-get');
  const apt = (args: string[]): boolean => spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'] }).status === 0;
  const packages = ['python3-distributed', 'python3-numpy', 'python3-dask', 'python3-pandas'];
  if (!apt(['install', '-y', '-q', ...packages])) {
    apt(['update', '-q']);
    apt(['install', '-y', '-q', ...packages]);
  }
  return probe() ? null : `Dask is unavailable (apt-get install -y ${packages.join(' ')} failed)`;
}

/** 1-minute load average: the machine is shared, so every figure is printed beside it. */
function load(): string {
  return loadavg()[0]!.toFixed(2);
}

/**
 * The machine is shared: before a group, wait (up to `maxS`) until other
 * processes use less than `threshold` of all cores over one second.
 * Returns the busy share last seen.
 */
async function settle(maxS: number, threshold = 0.2): Promise<number> {
  const deadline = Date.now() + maxS * 1000;
  for (;;) {
    const a = readCpuTotals();
    await new Promise((r) => setTimeout(r, 1000));
    const busy = busyFraction(a, readCpuTotals());
    if (busy < threshold || Date.now() >= deadline) {
      if (busy >= threshold) log(`machine still ${(100 * busy).toFixed(0)}% busy after ${maxS} s; measuring anyway`);
      return busy;
    }
  }
}

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}, Node ${process.versions.node}`;
}

/**
 * Run one recc group; a group that crashes (rather than times out) is run
 * once more, and the first failure is kept as a warning, so one flaky start
 * does not blank a measure while the failure stays visible.
 */
async function runReccGroup(group: Group, opts: BenchOptions, dir: string, results: Results): Promise<void> {
  const first = await runReccGroupOnce(group, opts, dir, results, 1);
  if (first === 'crashed') {
    const why = results.errors.get(`recc ${group}`) ?? '';
    results.errors.delete(`recc ${group}`);
    results.warnings.set(`recc ${group}`, `first attempt failed, retried: ${why}`);
    await runReccGroupOnce(group, opts, dir, results, 2);
  }
}

async function runReccGroupOnce(group: Group, opts: BenchOptions, dir: string, results: Results, attempt: number): Promise<'ok' | 'crashed' | 'timed out'> {
  if (opts.settleS > 0) await settle(opts.settleS);
  const out = join(dir, `recc-${group}-${attempt}.jsonl`);
  const args = ['--import', 'tsx', join(ROOT, 'bench/recc/measure.ts'), '--group', group, '--out', out];
  if (opts.quick) args.push('--quick');
  if (opts.scale !== 1) args.push('--scale', String(opts.scale));
  // The child gives up a little before it would be killed, so it can print its cluster's logs.
  const timeoutS = opts.timeoutS * (GROUP_BUDGET[group] ?? 1);
  args.push('--deadline', String(Math.max(timeoutS * 0.8, timeoutS - 5)));
  const env = { ...process.env };
  if (opts.profileDir) {
    // Every Node process of the group (client, scheduler, workers) writes <role>-<pid>.cpuprofile on exit.
    const dirFor = join(resolve(opts.profileDir), group);
    mkdirSync(dirFor, { recursive: true });
    env.RECC_BENCH_PROFILE_DIR = dirFor;
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import=${join(ROOT, 'bench/lib/cpu-profile-preload.mjs')}`.trim();
  }
  const started = Date.now();
  const run = await runChild(process.execPath, args, { timeoutS, cwd: ROOT, env });
  const got = readResults(out);
  for (const r of got) results.recc.set(r.name, { ...r, config: 'recc' });
  const secs = `${((Date.now() - started) / 1000).toFixed(1)} s, load ${load()}`;
  if (run.code !== 0 || got.length === 0) {
    const why = run.timedOut ? `timed out after ${timeoutS} s` : `exited with ${run.code ?? run.signal}`;
    results.errors.set(`recc ${group}`, `${why}\n${tail(run.output)}`);
    log(`recc ${group}: FAILED (${why}, ${secs})\n${tail(run.output)}`);
    return run.timedOut ? 'timed out' : 'crashed';
  }
  log(`recc ${group}: ${got.map((r) => `${r.name}=${fmt(r.value)}`).join(' ')} (${secs})`);
  return 'ok';
}

async function runDask(config: 'stock' | 'inf', groups: Group[], opts: BenchOptions, dir: string, results: Results): Promise<void> {
  if (opts.settleS > 0) await settle(opts.settleS);
  const out = join(dir, `dask-${config}.jsonl`);
  const args = [join(ROOT, 'bench/dask/bench_dask.py'), '--saturation', config, '--only', groups.join(','), '--out', out];
  if (opts.quick) args.push('--quick');
  const started = Date.now();
  // The Dask script runs all its groups on one cluster: give it their combined budget.
  const run = await runChild(PYTHON, args, { timeoutS: opts.timeoutS * Math.max(1, groups.length), cwd: ROOT });
  const got = readResults(out);
  const target = config === 'stock' ? results.daskStock : results.daskInf;
  for (const r of got) target.set(r.name, r);
  const secs = `${((Date.now() - started) / 1000).toFixed(1)} s, load ${load()}`;
  if (run.code !== 0) {
    const why = run.timedOut ? 'timed out' : `exited with ${run.code ?? run.signal}`;
    results.errors.set(`dask ${config}`, `${why}\n${tail(run.output)}`);
    log(`dask ${config}: FAILED (${why}, ${secs})\n${tail(run.output)}`);
  } else {
    log(`dask ${config}: ${got.map((r) => `${r.name}=${fmt(r.value)}`).join(' ')} (${secs})`);
  }
}

function fmt(v: unknown): string {
  return typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)) : String(v);
}

async function main(): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ValidationError) {
      process.stderr.write(`error: ${formatErrorForHumans(err)}\n\n${USAGE}\n`);
      return 2;
    }
    throw err;
  }
  if (opts.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (opts.profileDir) mkdirSync(resolve(opts.profileDir), { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'recc-bench-'));
  const results = emptyResults();
  const started = new Date();
  const loadAtStart = load();
  log(`machine: ${machine()}; load ${loadAtStart}`);
  log(`groups: ${opts.only.join(', ')}${opts.quick ? ' (quick sizes)' : ''}`);
  try {
    // The loopback ceiling is measured even with --no-recc: it is the reference for transfer.
    const reccGroups = opts.only.filter((g) => opts.recc || g === 'loopback');
    for (const g of reccGroups) await runReccGroup(g, opts, dir, results);
    if (opts.dask) {
      const daskGroups = opts.only.filter((g) => DASK_GROUPS.includes(g));
      if (daskGroups.length > 0) {
        const missing = ensureDask();
        if (missing) {
          results.errors.set('dask', missing);
          log(missing);
        } else {
          await runDask('stock', daskGroups, opts, dir, results);
          await runDask('inf', daskGroups, opts, dir, results);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const rows = presentRows(buildRows(results, MEASURES));
  if (opts.json) {
    for (const r of rows) process.stdout.write(`${rowToJson(r)}\n`);
  } else {
    const secs = ((Date.now() - started.getTime()) / 1000).toFixed(0);
    process.stdout.write(`\nrecc vs Dask distributed ${daskVersion()}: 2 worker processes × 1 thread + client\n`);
    process.stdout.write(`${machine()}; ${started.toISOString()}; ${secs} s; 1-min load ${loadAtStart} at start, ${load()} at end\n\n`);
    process.stdout.write(`${renderTable(rows)}\n\n`);
    process.stdout.write('recc vs Dask: how many times better recc is than the better Dask configuration (>1 = recc wins).\n\n');
    const t = summariseTargets(rows);
    process.stdout.write(`Targets (issue 4): ${t.met} met, ${t.missed} missed, ${t.unmeasured} not measured\n${t.lines.map((l) => `  ${l}`).join('\n')}\n`);
    const costs = renderCosts(rows);
    if (costs) process.stdout.write(`\nWhere recc's time goes (CPU and syscalls per task, by process):\n${costs}\n`);
    if (results.warnings.size > 0) {
      process.stdout.write('\nWarnings:\n');
      for (const [k, v] of results.warnings) process.stdout.write(`  ${k}: ${v.split('\n').slice(0, 3).join(' ')}\n`);
    }
    if (results.errors.size > 0) {
      process.stdout.write('\nFailures:\n');
      for (const [k, v] of results.errors) process.stdout.write(`  ${k}: ${v.split('\n')[0]}\n`);
    }
    if (opts.markdown) process.stdout.write(`\n${renderMarkdown(rows)}\n`);
  }
  return results.errors.size > 0 ? 1 : 0;
}

function daskVersion(): string {
  const r = spawnSync(PYTHON, ['-c', 'import distributed; print(distributed.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '(unavailable)';
}

process.exitCode = await main();
