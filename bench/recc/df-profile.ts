/**
 * The recc half of the `dataframe` group alone, for profiling and A/B runs:
 *   node --import tsx bench/recc/df-profile.ts [--rows N] [--reps R] [--only setIndex|apply]
 *        [--prof DIR] [--node-args "--flag ..."] [--threads] [--log FILE]
 * --prof starts the workers with --cpu-prof into DIR (read with bench/profile-top.ts; task threads get
 * files of their own, `<pid>.1.*`). --node-args passes V8/Node flags to the workers (for trying settings).
 * Prints one JSON line per repetition: wall seconds per operation, the workers' CPU seconds (user + system
 * of both processes, all threads; less sensitive than wall time to other load on a shared machine), their
 * system share, and the workers' peak RSS. --threads adds the apply's CPU per thread (main, task thread,
 * V8's helper threads: TurboFan and GC work shows there). --log appends the workers' output (e.g. what
 * --trace-deopt prints) to FILE.
 */
import { createWriteStream, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { perSecurity } from './dataframe-measures.ts';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const rows = Number(flag('--rows') ?? '5000000');
const prof = flag('--prof');
const reps = Number(flag('--reps') ?? '1');
const only = flag('--only');
if (only !== undefined && only !== 'setIndex' && only !== 'apply') throw new Error('--only takes setIndex or apply');
const nodeArgs = [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), ...(flag('--node-args') ?? '').split(' ').filter(Boolean)];
const perThread = argv.includes('--threads');
const logFile = flag('--log');
const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;

const s = await import('../../client/index.ts');
const { generateTrades, seeds } = await import('../../examples/dataframe.ts');
if (prof) mkdirSync(prof, { recursive: true });
const cluster = await s.LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, ...(nodeArgs.length > 0 ? { nodeArgs } : {}), ...(log ? { logStream: log } : {}) });
const secs = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;
/** /proc/<pid>[/task/<tid>]/stat fields after the command: minflt is field 10, utime and stime 14 and 15 (clock ticks, 100 per second). */
const ticks = (statPath: string): { user: number; sys: number; minflt: number } => {
  const stat = readFileSync(statPath, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]), sys: Number(f[12]), minflt: Number(f[7]) };
};
const pids = (): number[] => cluster.workerProcesses.map((w) => w.pid as number);
const workerCpu = (): { total: number; sys: number; minflt: number } => {
  let total = 0;
  let sys = 0;
  let minflt = 0;
  for (const pid of pids()) {
    const t = ticks(`/proc/${pid}/stat`);
    total += (t.user + t.sys) / 100;
    sys += t.sys / 100;
    minflt += t.minflt;
  }
  return { total, sys, minflt };
};
/** CPU ms per thread of every worker, keyed `pid/tid name` (the first is the main thread: tid = pid), and its system share (`… sys`). */
const threadMs = (): Map<string, number> => {
  const m = new Map<string, number>();
  for (const pid of pids()) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const t = ticks(`/proc/${pid}/task/${tid}/stat`);
        // Keyed with the thread's name (V8's helpers are "V8 DefaultWorke", libuv's "libuv-worker"); sys ms kept apart.
        const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
        m.set(`${pid}/${tid} ${name}`, (t.user + t.sys) * 10);
        m.set(`${pid}/${tid} ${name} sys`, t.sys * 10);
      } catch {
        // The thread ended meanwhile.
      }
    }
  }
  return m;
};
const peakMiB = (): number[] => pids().map((pid) => Math.round(Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024));
try {
  const client = await s.Client.connect(cluster);
  try {
    const partitions = Math.max(8, Math.round(rows / 250_000));
    const trades = await client.fromTable(seeds({ rows, securities: 2_000, days: 504, partitions }), { npartitions: partitions }).mapPartitions(generateTrades).persist();
    for (let r = 0; r < reps; r++) {
      const out: Record<string, unknown> = { rows, rep: r };
      if (only !== 'apply') {
        const c0 = workerCpu();
        log?.write(`=== setIndex ${r}\n`);
        const t0 = process.hrtime.bigint();
        const indexed = await trades.setIndex('security').persist();
        out.setIndexS = secs(t0);
        out.setIndexCpuS = workerCpu().total - c0.total;
        await indexed.release();
      }
      if (only !== 'setIndex') {
        const c0 = workerCpu();
        const th0 = perThread ? threadMs() : undefined;
        log?.write(`=== apply ${r}\n`);
        const t0 = process.hrtime.bigint();
        const applied = await trades.groupBy('security').apply(perSecurity).persist();
        out.applyS = secs(t0);
        // In the clock of the workers' --cpu-prof profiles (profile-top.ts --window).
        out.applyWindowUs = `${t0 / 1000n},${process.hrtime.bigint() / 1000n}`;
        const c1 = workerCpu();
        out.applyCpuS = c1.total - c0.total;
        out.applySysS = c1.sys - c0.sys;
        // Minor page faults: first touches of freshly mapped memory (large arrays are mmap'd: shared/engine/worker-env.ts).
        out.applyMinflt = c1.minflt - c0.minflt;
        if (th0) out.applyThreadMs = Object.fromEntries([...threadMs()].map(([k, v]) => [k, v - (th0.get(k) ?? 0)]).filter(([, v]) => (v as number) > 0));
        await applied.release();
      }
      log?.write(`=== end ${r}\n`);
      out.peakMiB = peakMiB();
      out.load = readFileSync('/proc/loadavg', 'utf8').trim();
      process.stdout.write(`${JSON.stringify(out)}\n`);
      // A release reaches the scheduler on the client's next turn: without a pause, the next repetition's
      // graph would find the same keys still there and reuse them instead of computing.
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await client.close();
  }
} finally {
  await cluster.close();
}
