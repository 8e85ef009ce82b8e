/**
 * recc side of `npm run bench`: runs one group and appends JSON-lines results
 * ({name, value, unit, ...extra}) to --out. Run by bench/run.ts in its own
 * process: tsx bench/recc/measure.ts --group G --out FILE [--quick] [--scale X] [--deadline S]
 */
import { appendFileSync } from 'node:fs';
import { measureLoopback } from '../loopback.ts';
import { measurePingPong } from '../pingpong.ts';
import { GROUPS, type Group } from '../lib/measures.ts';

const argv = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const group = flag('--group') as Group | undefined;
const outPath = flag('--out');
const quick = argv.includes('--quick');
const scale = Number(flag('--scale') ?? '1');
/** Seconds after which the group gives up, printing the cluster's logs first (run.ts kills it a little later). */
const deadlineS = Number(flag('--deadline') ?? '0');
if (!group || !(GROUPS as readonly string[]).includes(group) || !outPath || !(scale > 0)) {
  process.stderr.write('usage: measure.ts --group G --out FILE [--quick] [--scale X] [--deadline S]\n');
  process.exit(2);
}

export function emit(name: string, value: number | null, unit: string, extra: Record<string, unknown> = {}): void {
  appendFileSync(outPath!, `${JSON.stringify({ name, value, unit, ...extra })}\n`);
  process.stderr.write(`[recc] ${name} = ${value} ${unit}\n`);
}

async function run(g: Group): Promise<void> {
  if (g === 'loopback') {
    const bytes = 100 * 1024 * 1024;
    const reps = quick ? 3 : 9;
    const r = await measureLoopback({ bytes, reps });
    emit('loopback_raw', r.mbPerS, 'MB/s', { bytes, reps, samples: r.samples.map((s) => Math.round(s)), receiverCpuMsPerCopy: r.receiverCpuMsPerCopy, receiverKernelMsPerCopy: r.receiverKernelMsPerCopy });
    const pp = await measurePingPong({ rounds: quick ? 500 : 2000 });
    emit('loopback_rtt', pp.p50Us / 1000, 'ms', { p99Ms: pp.p99Us / 1000, rounds: pp.samples, bytes: 64, perTask: pp.perRoundTrip });
    return;
  }
  const engine = await import('./engine-measures.ts');
  if (deadlineS > 0) {
    setTimeout(() => {
      process.stderr.write(`[recc] ${g}: no result after ${deadlineS} s; last log lines:\n${engine.diagnostics()}\n`);
      process.exit(1);
    }, deadlineS * 1000).unref();
  }
  if (g === 'sqs') {
    const { runSqsGroup } = await import('./sqs-measures.ts');
    await runSqsGroup({ quick, scale, emit });
    return;
  }
  if (g === 'skew' || g === 'transfer_many') {
    const m = await import('./issue19-measures.ts');
    if (g === 'skew') await m.measureSkew({ quick, scale, emit }, quick ? 200 : 1000);
    else await m.measureTransferMany({ quick, scale, emit }, quick ? 256 : 1024, 1024 * 1024);
    return;
  }
  if (g === 'start_time') {
    const { measureStartTime } = await import('./start-time-measures.ts');
    await measureStartTime({ quick, scale, emit }, quick ? 3 : Math.max(2, Math.round(20 * scale)));
    return;
  }
  if (g === 'dataframe') {
    const { runDataframe } = await import('./dataframe-measures.ts');
    await runDataframe({ quick, scale, emit });
    return;
  }
  if (g === 'dashboard') {
    const { measureDashboardCost } = await import('./dashboard-measures.ts');
    await measureDashboardCost({ quick, scale, emit });
    return;
  }
  if (g === 'data') {
    const { runData } = await import('./data.ts');
    await runData({ quick, scale, emit });
    return;
  }
  await engine.runGroup(g, { quick, scale, emit });
}

await run(group);
