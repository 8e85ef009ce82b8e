/**
 * Issue 19 #5: create→RUNNING on the local stack (`recc up`: the API server,
 * dynalite, fauxqs, the provisioner poller and the local-process backend, all
 * real), for 1, 4 and 16 workers, `creates` clusters each, one at a time
 * (each is deleted, and gone, before the next create: a start is measured
 * on a machine that is not also tearing a cluster down).
 *
 * Each sample is `runningAt − t0`, t0 the client's clock just before it sends
 * `POST /clusters` (same machine, same clock as the stack). The breakdown:
 * `api` = t0 → the record's `createdAt`; the other stages are the record's
 * own `startTimeline` (shared/lifecycle/start-timeline.ts), so they sum to
 * the total. Reported per size: p50 and p95 (nearest rank) of the total, the
 * p50 of each stage, and the API's response time.
 *
 * A cluster that does not come up fails the group with evidence: the stack's
 * log lines about it and the tail of each of its process logs, and the state
 * directory is kept (its path is in the error).
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, percentile } from '../lib/stats.ts';
import type { GroupContext } from './engine-measures.ts';

interface Sample {
  totalMs: number;
  apiResponseMs: number;
  stages: Record<string, number>;
}

interface ClusterBody {
  id: string;
  status: string;
  statusReason?: string;
  createdAt: string;
  runningAt?: string;
  startTimeline?: { totalMs: number; stages: Array<{ stage: string; ms: number }> };
}

export const START_SIZES = [1, 4, 16] as const;

async function call(url: string, method: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Poll the record (it carries the stamps; the poll interval does not enter the figure). */
async function waitFor(base: string, id: string, done: (c: ClusterBody) => boolean, timeoutMs: number): Promise<ClusterBody> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await call(`${base}/clusters/${id}`, 'GET');
    const cluster = got.body?.cluster as ClusterBody | undefined;
    if (cluster && done(cluster)) return cluster;
    if (Date.now() > deadline) throw new Error(`cluster ${id}: still ${cluster?.status ?? got.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function oneStart(base: string, stateDir: string, nWorkers: number, name: string): Promise<Sample> {
  const t0 = Date.now();
  const created = await call(`${base}/clusters`, 'POST', { name, nWorkers, workerCpu: 1, workerMemoryGiB: 0.5, schedulerCpu: 1, schedulerMemoryGiB: 1 });
  const apiResponseMs = Date.now() - t0;
  if (created.status !== 202) throw new Error(`create answered ${created.status}: ${JSON.stringify(created.body)}`);
  const id = created.body.cluster.id as string;
  try {
    let c: ClusterBody;
    try {
      c = await waitFor(base, id, (x) => x.status !== 'REQUESTED' && x.status !== 'PROVISIONING', 180_000);
      if (c.status !== 'RUNNING' || !c.runningAt || !c.startTimeline) throw new Error(`cluster ${id} ended ${c.status}: ${c.statusReason ?? ''}`);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${evidence(stateDir, id)}`, { cause: err });
    }
    const stages: Record<string, number> = { api: Math.max(0, Date.parse(c.createdAt) - t0) };
    for (const s of c.startTimeline.stages) stages[s.stage] = (stages[s.stage] ?? 0) + s.ms;
    return { totalMs: Date.parse(c.runningAt) - t0, apiResponseMs, stages };
  } finally {
    await call(`${base}/clusters/${id}`, 'DELETE');
    await waitFor(base, id, (x) => x.status === 'DELETED' || x.status === 'FAILED', 120_000);
  }
}

export async function measureStartTime(ctx: GroupContext, creates: number): Promise<void> {
  const { startLocalStack } = await import('../../local/stack.ts');
  const stateDir = mkdtempSync(join(tmpdir(), 'recc-bench-start-'));
  const { createLogger } = await import('../../shared/core/logger.ts');
  const logger = createLogger({ level: 'info', service: 'recc-up', write: (line) => appendFileSync(join(stateDir, STACK_LOG), `${line}\n`) });
  const stack = await startLocalStack({ port: 0, stateDir, logger, processEnv: { PATH: process.env.PATH, HOME: process.env.HOME } });
  let failed = false;
  try {
    // One unmeasured start first: the first spawn of each kind pays for cold file caches (tsx, node_modules).
    await oneStart(stack.url, stateDir, 1, 'bench-warmup');
    for (const n of START_SIZES) {
      const samples: Sample[] = [];
      const started = Date.now();
      for (let i = 0; i < creates; i += 1) samples.push(await oneStart(stack.url, stateDir, n, `bench-${n}w-${i}`));
      const totals = samples.map((s) => s.totalMs / 1000);
      const stageNames = [...new Set(samples.flatMap((s) => Object.keys(s.stages)))];
      const stagesP50 = Object.fromEntries(stageNames.map((st) => [st, Math.round(median(samples.map((s) => s.stages[st] ?? 0)))]));
      const extra = {
        workers: n,
        creates,
        stagesP50Ms: stagesP50,
        apiResponseP50Ms: Math.round(median(samples.map((s) => s.apiResponseMs))),
        samplesS: totals.map((t) => Number(t.toFixed(3))),
        wallS: Math.round((Date.now() - started) / 1000),
        // The machine is shared: the 1-minute load average when this size finished.
        load1: Number(loadavg()[0]!.toFixed(2)),
      };
      ctx.emit(`start_time_p50_${n}w`, Number(percentile(totals, 50).toFixed(3)), 's', extra);
      ctx.emit(`start_time_p95_${n}w`, Number(percentile(totals, 95).toFixed(3)), 's', { workers: n, creates });
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    await stack.close({ teardownClusters: true });
    if (!failed) rmSync(stateDir, { recursive: true, force: true });
  }
}

const STACK_LOG = 'stack.log';

/** What the stack and the cluster's processes logged about a cluster that did not come up. */
function evidence(stateDir: string, id: string): string {
  const tail = (text: string, n: number): string => text.trimEnd().split('\n').slice(-n).join('\n');
  const parts = [`state directory kept: ${stateDir}`];
  try {
    const stackLines = readFileSync(join(stateDir, STACK_LOG), 'utf8').split('\n').filter((l) => l.includes(id));
    parts.push(`stack log about ${id}:\n${tail(stackLines.join('\n'), 30)}`);
  } catch {
    parts.push('no stack log');
  }
  const logs = join(stateDir, 'clusters', id, 'logs');
  if (existsSync(logs)) {
    for (const f of readdirSync(logs).sort()) parts.push(`${f}:\n${tail(readFileSync(join(logs, f), 'utf8'), 15)}`);
  } else parts.push(`no process logs under ${logs}`);
  return parts.join('\n');
}
