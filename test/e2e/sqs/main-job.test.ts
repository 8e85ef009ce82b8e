import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatastoresConfig } from '../../../adapters/datastores/load-config.ts';
import { openDatastores } from '../../../adapters/datastores/session.ts';
import { writePrices } from '../../../examples/prices.ts';
import { REPO_ROOT } from '../../support/local-stack.ts';

/**
 * "`examples/backfill.ts` runs over SQS with `RECC_TRANSPORT=sqs npm start`"
 * (issue 12): the main job, unchanged, on the embedded local stack (whose
 * clusters get their queues on the stack's fauxqs), once as it runs by
 * default (TCP) and once with RECC_TRANSPORT=sqs. Both read the same prices
 * (a smaller set written here into a local store of the test's own), both
 * check the cluster against the serial run themselves, and their results
 * must be the same to the last digit printed.
 */
let dir: string;
let env: Record<string, string>;

function npmStart(extra: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['start', '--silent'], { cwd: REPO_ROOT, env: { ...process.env, ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // SIGINT: the job deletes its cluster and stops its stack before leaving (nothing outlives the test).
    const timer = setTimeout(() => child.kill('SIGINT'), 200_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The printed results, from the heading to the speedup line (timings excluded). */
const results = (out: string) => out.slice(out.indexOf('\nResults'), out.indexOf('  speedup over serial'));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recc-main-sqs-'));
  const config = join(dir, 'recc.datastores.yaml');
  await writeFile(config, ['stores:', '  PRICES: { type: local, root: prices-store }', 'write: PRICES', ''].join('\n'));
  env = {
    RECC_DATASTORES_CONFIG: config,
    RECC_DATASTORES_READ: 'PRICES',
    RECC_MAIN_WORKERS: '2',
    RECC_DEBUG: '1',
  };
  const ds = await openDatastores({ config: loadDatastoresConfig({ cwd: dir, home: dir, env }) });
  await writePrices(ds, { securities: 40, years: 0.4 });
  await ds.close();
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm start over SQS', () => {
  it('RECC_TRANSPORT=sqs runs the main job unchanged over the queues, with the same results as over TCP', async () => {
    // Act: the default route first, then SQS, each with its own state directory (its own stack and cluster)
    const tcp = await npmStart({ RECC_TRANSPORT: '', RECC_STATE_DIR: join(dir, 'state-tcp') });
    const sqs = await npmStart({ RECC_TRANSPORT: 'sqs', RECC_STATE_DIR: join(dir, 'state-sqs') });

    // Assess: both finished, each checked against its serial run, over the route asked for
    expect(tcp.code, `${tcp.stdout}\n${tcp.stderr}`).toBe(0);
    expect(sqs.code, `${sqs.stdout}\n${sqs.stderr}`).toBe(0);
    expect(tcp.stderr).toMatch(/recc: connected to cluster c-[a-z0-9]+ over TCP \(/);
    expect(tcp.stderr).not.toMatch(/over SQS/);
    expect(sqs.stderr).toMatch(/recc: connected to cluster c-[a-z0-9]+ over SQS \(http:\/\/\S+-req\.fifo\)\n/);
    expect(sqs.stderr).not.toMatch(/over TCP/);
    for (const run of [tcp, sqs]) {
      expect(run.stdout).toMatch(/• backfill: 45 tasks \(one per date, 60-day lookback\) \+ 1 reduction/);
      expect(run.stdout).toMatch(/speedup over serial .*results identical/);
      expect(run.stdout).toMatch(/• cluster deleted/);
    }
    expect(results(sqs.stdout)).toContain('mean min-variance vol');
    expect(results(sqs.stdout)).toBe(results(tcp.stdout));
  }, 420_000);
});
