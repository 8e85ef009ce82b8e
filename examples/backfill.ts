/**
 * The main job (`npm start`): the whole recc story on one machine, in under
 * a minute.
 *
 * 1. start the embedded local stack (API, store, queue, provisioner, local
 *    backend) in this process on a free port, state under `.recc/`;
 * 2. read the prices, a date-partitioned Parquet dataset, through the
 *    datastores' read order (RECC_DATASTORES_READ; default the LOCAL store under
 *    `.recc/data`), printing where each partition came from; generate it on
 *    first run;
 * 3. create a cluster through the API and wait for RUNNING, showing progress;
 * 4. run the backfill on it through the SDK (`backfill-job.ts`), then the same
 *    work serially here, for the speedup;
 * 5. print the summary, the speedup and the EKS $/hour of the same cluster;
 * 6. delete the cluster, stop the stack, exit 0.
 *
 * Environment: RECC_STATE_DIR (default `.recc/main`, apart from `recc up`'s `.recc`),
 * RECC_MAIN_WORKERS (default: 2 to 4 by CPU count).
 */
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ReccCluster } from '../client/recc-cluster.ts';
import { SUPERVISOR_STALE_ENV } from '../comm/supervisor-lease.ts';
import { startLocalStack } from '../local/stack.ts';
import { getNumber, getString } from '../shared/core/env.ts';
import { sleep } from '../shared/core/retry.ts';
import { createLogger } from '../shared/core/logger.ts';
import { riskForDate, summarize, type DayRisk } from './backfill-tasks.ts';
import { LOOKBACK_DAYS, runBackfill, windowsFor } from './backfill-job.ts';
import type { DayPrices } from './dataset.ts';
import { describeSources, loadPrices, openDatastores } from './prices.ts';
import { clusterCpuMs, speedupLine } from './speedup.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const env = process.env;
const stateDir = resolve(getString(env, 'RECC_STATE_DIR', join('.recc', 'main')));
const nWorkers = getNumber(env, 'RECC_MAIN_WORKERS', Math.max(2, Math.min(4, availableParallelism())));
// Output piped into `head` (EPIPE) must not kill the job before it cleans up.
process.stdout.on('error', () => undefined);
const say = (line: string) => process.stdout.write(`${line}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;


async function main(): Promise<void> {
  const started = performance.now();
  say('recc main job: a date-partitioned risk backfill on a dedicated cluster\n');

  // The datastores' configuration first: a bad one fails here, before anything starts.
  const datastores = await openDatastores();

  // 1. The embedded stack (its own JSON log goes to a file; this output stays readable).
  const { createWriteStream, mkdirSync } = await import('node:fs');
  mkdirSync(stateDir, { recursive: true });
  const logStream = createWriteStream(join(stateDir, 'main-job.log'), { flags: 'a' });
  const logger = createLogger({ level: 'info', service: 'recc-main', write: (l) => logStream.write(`${l}\n`) });
  // Nobody restarts this job's stack to adopt its cluster: if the job is killed (-9), the cluster stops itself after a minute.
  const stack = await startLocalStack({ port: 0, stateDir, logger, processEnv: { [SUPERVISOR_STALE_ENV]: '60', ...env } });
  say(`• local stack up at ${stack.url} (user ${stack.user}, state in ${stack.stateDir})`);
  // A run that was killed may have left its cluster running: this state dir is the job's own, so delete it.
  const leftovers = [...stack.reconcile.keptRunning, ...stack.reconcile.requeued];
  for (const id of leftovers) await ReccCluster.connect(id, { apiUrl: stack.url, heartbeatIntervalMs: 0, shutdownOnClose: true }).then((c) => c.close());
  if (leftovers.length) say(`• deleting ${leftovers.length} cluster(s) left by an interrupted run`);

  let cluster: ReccCluster | undefined;
  // Ctrl-C: delete the cluster and stop its processes before leaving.
  const interrupt = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: deleting the cluster and stopping the local stack…\n`);
    void Promise.resolve(cluster?.close())
      .catch(() => undefined)
      .then(() => stack.close({ teardownClusters: true }))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    // 2. The prices: Parquet partitions read through the datastores' read order (generated on first run).
    const t0 = performance.now();
    const prices = await loadPrices(datastores);
    say(
      `• prices: ${prices.dates.length} business days × ${prices.days[0]?.symbols.length ?? 0} securities, read through ${datastores.config.read.join(' → ')}` +
        ` in ${secs(performance.now() - t0)}${prices.created ? ` (generated into ${prices.writeTarget} first)` : ''}`,
    );
    for (const line of describeSources(prices.sources)) say(`  ${line}`);
    for (const w of datastores.reader.warnings) say(`  warning: ${w}`);

    // 3. A cluster through the API.
    const t1 = performance.now();
    process.stdout.write(`• cluster: requesting ${nWorkers} workers of 1 CPU`);
    cluster = await ReccCluster.create({
      apiUrl: stack.url,
      template: 'default',
      nWorkers,
      workerCpu: 1,
      workerMemoryGiB: 1,
      name: 'main-job-backfill',
      job: 'risk-backfill',
      pollIntervalMs: 200,
      maxPollIntervalMs: 500,
      onProgress: (event: { status?: string }) => {
        if (event.status) process.stdout.write(` → ${event.status}`);
      },
    });
    say(` (${secs(performance.now() - t1)})`);
    const plan = cluster.cluster.plan;

    // 4. The backfill on the cluster, then the same work serially here.
    const windows = windowsFor(prices.dates, LOOKBACK_DAYS);
    say(`• backfill: ${windows.length} tasks (one per date, ${LOOKBACK_DAYS}-day lookback) + 1 reduction`);
    // Others' load before our workers add theirs, and the cluster's CPU time around the run.
    const loadBefore = loadavg()[0] ?? 0;
    const cpuBefore = clusterCpuMs(stack.stateDir, cluster.id);
    const onCluster = await runBackfill(cluster, { dates: prices.dates, days: prices.days });
    const cpuAfter = clusterCpuMs(stack.stateDir, cluster.id);
    say(`  on the cluster: ${secs(onCluster.elapsedMs)}`);
    const t2 = performance.now();
    const serialCpu = process.cpuUsage();
    const byDate = new Map(prices.days.map((d) => [d.date, d]));
    const serialDays: DayRisk[] = windows.map((window) => riskForDate({ window, days: window.map((d) => byDate.get(d) as DayPrices) }));
    const serialSummary = summarize(serialDays);
    const serialMs = performance.now() - t2;
    const serialCpuUsed = process.cpuUsage(serialCpu);
    say(`  serially here: ${secs(serialMs)}`);
    if (JSON.stringify(serialSummary) !== JSON.stringify(onCluster.summary)) {
      throw new Error('the cluster and the serial run disagree; see the summaries above');
    }

    // 5. Results.
    const s = onCluster.summary;
    say('\nResults');
    say(`  dates                      ${s.from} … ${s.to} (${s.days} days)`);
    say(`  mean min-variance vol      ${pct(s.meanMinVarVol)} a year`);
    say(`  mean equal-weight vol      ${pct(s.meanEqualWeightVol)} a year`);
    say(`  diversification ratio      ${s.diversificationRatio.toFixed(2)}×`);
    say(`  mean pairwise correlation  ${s.meanAvgCorrelation.toFixed(3)}`);
    say(`  riskiest day               ${s.riskiestDay.date} (equal-weight vol ${pct(s.riskiestDay.equalWeightVol)})`);
    say(`  biggest one-day move       ${s.biggestMove.symbol} ${pct(s.biggestMove.ret)} on ${s.biggestMove.date}`);
    const speedup = speedupLine({
      serialMs,
      clusterMs: onCluster.elapsedMs,
      nWorkers,
      cpus: availableParallelism(),
      loadBefore,
      serialCpuMs: (serialCpuUsed.user + serialCpuUsed.system) / 1000,
      ...(cpuBefore !== undefined && cpuAfter !== undefined ? { clusterCpuMs: cpuAfter - cpuBefore } : {}),
    });
    say(`  speedup over serial        ${speedup}; results identical`);
    say(
      `  same cluster on EKS        $${plan.costPerHour.toFixed(3)}/hour (${plan.instances} × ${plan.instanceType}, ` +
        `$${plan.costPerWorkerHour.toFixed(4)} per worker-hour)`,
    );
  } finally {
    // 6. Clean up: delete the cluster (waits for DELETED) and stop the stack.
    if (cluster) {
      const t3 = performance.now();
      await cluster.close();
      // The delete is asynchronous (202): wait until the provisioner finished the teardown.
      const deadline = Date.now() + 60_000;
      let status = cluster.status as string;
      while (Date.now() < deadline && status !== 'DELETED' && status !== 'FAILED') {
        await sleep(200);
        status = (await cluster.refresh()).status;
      }
      say(`\n• cluster ${status.toLowerCase()} (${secs(performance.now() - t3)})`);
    }
    // Nothing of this job may outlive it, even if the delete above failed.
    await stack.close({ teardownClusters: true });
    logStream.end();
  }
  say(`done in ${secs(performance.now() - started)}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`\nmain job failed: ${err instanceof Error ? err.message : String(err)}\n`);
    if (env.RECC_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  },
);
