import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatastoresConfig } from '../../../adapters/datastores/load-config.ts';
import { openDatastores } from '../../../adapters/datastores/session.ts';
import { businessDays } from '../../../examples/dataset.ts';
import { loadPrices, writePrices } from '../../../examples/prices.ts';
import { REPO_ROOT } from '../../support/local-stack.ts';
import { startTestS3, type TestS3 } from '../../support/s3.ts';

/**
 * "The main job reads its prices through datastores": `npm start` with
 * RECC_DATASTORES_READ=FP_LOCAL,S3, an empty FP_LOCAL and the Parquet
 * partitions on S3 (fauxqs behind the counting proxy, started here). The
 * first run reads every partition from S3 and copies it into FP_LOCAL; the
 * second is served from FP_LOCAL with 0 S3 GETs counted at the emulator.
 */
const BUCKET = 'recc-main-job';
let s3: TestS3;
let dir: string;
let env: Record<string, string>;
const saved: Record<string, string | undefined> = {};

function npmStart(extra: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['start', '--silent'], { cwd: REPO_ROOT, env: { ...process.env, ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 170_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  s3 = await startTestS3();
  await s3.createBucket(BUCKET);
  dir = await mkdtemp(join(tmpdir(), 'recc-main-ds-'));
  const config = join(dir, 'recc.datastores.yaml');
  await writeFile(
    config,
    [
      'stores:',
      '  FP_LOCAL: { type: local, root: fp }',
      `  S3: { type: s3, bucket: ${BUCKET}, prefix: research/, region: us-east-1, endpoint: "${s3.endpoint}" }`,
      'write: S3',
      'cache: { store: FP_LOCAL }',
      '',
    ].join('\n'),
  );
  env = {
    RECC_DATASTORES_CONFIG: config,
    RECC_DATASTORES_READ: 'FP_LOCAL,S3',
    RECC_STATE_DIR: join(dir, 'state'),
    RECC_MAIN_WORKERS: '2',
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    AWS_REGION: s3.region,
  };
  // The data on S3, written through writeTable (writeDataset): 40 securities over ~100 business days.
  // The SDK's default credential chain reads the environment, as it does in the job.
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION'] as const) {
    saved[k] = process.env[k];
    process.env[k] = env[k];
  }
  const ds = await openDatastores({ config: loadDatastoresConfig({ cwd: dir, home: dir, env }) });
  await writePrices(ds, { securities: 40, years: 0.4 });
  await ds.close();
}, 60_000);

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const DATES = businessDays('2023-01-02', 104);
const RANGE = `loaded prices/date=${DATES[0]} … date=${DATES.at(-1)} (104 partitions)`;

describe('npm start reads its prices through datastores', () => {
  it('first run from S3 (copied into FP_LOCAL), second run from FP_LOCAL with 0 S3 GETs', async () => {
    expect(await readdir(join(dir, 'fp')).catch(() => [])).toEqual([]);
    s3.resetCounts();
    const first = await npmStart();
    expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
    expect(first.stdout).toMatch(/• prices: 104 business days × 40 securities, read through FP_LOCAL → S3/);
    expect(first.stdout.split('\n')).toContain(`  ${RANGE} from S3`);
    expect(s3.objectGets()).toBeGreaterThanOrEqual(104);
    expect(first.stdout).toMatch(/speedup over serial .*results identical/);

    s3.resetCounts();
    const second = await npmStart();
    expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0);
    expect(second.stdout.split('\n')).toContain(`  ${RANGE} from FP_LOCAL (cached copy of S3)`);
    expect(second.stdout).not.toMatch(/from S3$/m);
    expect(s3.objectGets()).toBe(0);
    // Same numbers both times.
    const results = (out: string) => out.slice(out.indexOf('Results'), out.indexOf('speedup over serial'));
    expect(results(second.stdout)).toBe(results(first.stdout));
  }, 400_000);

  it('an unknown store or a bucket without permission stops the job with an error naming the store and what was expected', async () => {
    const unknown = await npmStart({ RECC_DATASTORES_READ: 'FP_LOCAL,NOPE' });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('read.1: unknown store "NOPE"; expected one of FP_LOCAL, LOCAL, S3');
    expect(unknown.stdout).not.toContain('local stack up');
    await rm(join(dir, 'fp'), { recursive: true, force: true });
    s3.forbidBucket(BUCKET);
    try {
      const denied = await npmStart();
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/main job failed: S3: access denied to s3:\/\/recc-main-job\/research\/prices\/\S+; expected read and write permission on that bucket and prefix/);
      expect(denied.stderr).not.toMatch(/\n\s+at /);
    } finally {
      s3.forbidBucket(undefined);
    }
  }, 200_000);

  it('with no configuration at all the prices are generated into LOCAL under .recc/data and read back', async () => {
    const fresh = await mkdtemp(join(tmpdir(), 'recc-main-fresh-'));
    try {
      const config = loadDatastoresConfig({ cwd: fresh, home: fresh, env: {} });
      const first = await loadPrices(await openDatastores({ config }));
      expect(first.created).toBe(true);
      expect(first.writeTarget).toBe('LOCAL');
      expect(first.dates).toHaveLength(522);
      expect(first.days[0]?.symbols).toHaveLength(250);
      expect(new Set(first.sources.map((s) => s.from))).toEqual(new Set(['LOCAL']));
      expect((await readdir(join(fresh, '.recc', 'data', 'prices'))).filter((d) => d.startsWith('date='))).toHaveLength(522);
      const again = await loadPrices(await openDatastores({ config }));
      expect(again.created).toBe(false);
      expect(again.days[100]?.close).toEqual(first.days[100]?.close);
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  }, 120_000);
});
