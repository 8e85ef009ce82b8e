/**
 * The recc half of the `dataframe` group alone, for profiling and A/B runs:
 *   node --import tsx bench/recc/df-profile.ts [--rows N] [--prof DIR] [--reps R]
 * --prof starts the workers with --cpu-prof into DIR (read with bench/profile-top.ts).
 * Prints one JSON line per repetition: wall seconds per operation and the
 * workers' CPU seconds (user + system of both processes, all threads; less
 * sensitive than wall time to other load on a shared machine).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { perSecurity } from './dataframe-measures.ts';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const rows = Number(flag('--rows') ?? '5000000');
const prof = flag('--prof');
const reps = Number(flag('--reps') ?? '1');


const s = await import('../../client/index.ts');
const { generateTrades, seeds } = await import('../../examples/dataframe.ts');
if (prof) mkdirSync(prof, { recursive: true });
const cluster = await s.LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, ...(prof ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${prof}`] } : {}) });
const secs = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;
const ticks = (pid: number): number => {
  // /proc/<pid>/stat fields after the command: utime and stime are fields 14 and 15 (clock ticks, 100 per second).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
};
const workerCpu = (): number => cluster.workerProcesses.reduce((n, w) => n + ticks(w.pid as number), 0) / 100;
try {
  const client = await s.Client.connect(cluster);
  try {
    const partitions = Math.max(8, Math.round(rows / 250_000));
    const trades = await client.fromTable(seeds({ rows, securities: 2_000, days: 504, partitions }), { npartitions: partitions }).mapPartitions(generateTrades).persist();
    for (let r = 0; r < reps; r++) {
      let c0 = workerCpu();
      let t0 = process.hrtime.bigint();
      const indexed = await trades.setIndex('security').persist();
      const setIndexS = secs(t0);
      const setIndexCpuS = workerCpu() - c0;
      for (const f of await indexed.parts()) (f as { release(): void }).release();
      c0 = workerCpu();
      t0 = process.hrtime.bigint();
      const applied = await trades.groupBy('security').apply(perSecurity).persist();
      const applyS = secs(t0);
      const applyCpuS = workerCpu() - c0;
      for (const f of await applied.parts()) (f as { release(): void }).release();
      process.stdout.write(`${JSON.stringify({ rows, rep: r, setIndexS, applyS, setIndexCpuS, applyCpuS, load: readFileSync('/proc/loadavg', 'utf8').trim() })}\n`);
    }
  } finally {
    await client.close();
  }
} finally {
  await cluster.close();
}
