import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli-run.ts';
import { startTestS3, type TestS3 } from '../../support/s3.ts';

/**
 * `recc data ls|stat|cp|sync` as a user runs it: real CLI processes in a
 * working directory with a recc.datastores.yaml, S3 on fauxqs behind the
 * counting proxy.
 */
const BUCKET = 'recc-data-cli';
let s3: TestS3;
let cwd: string;

function env(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: cwd,
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    AWS_REGION: s3.region,
  };
}
const recc = (...args: string[]) => runCli(['data', ...args], { cwd, env: env() });
const json = (stdout: string) => JSON.parse(stdout) as { ok: boolean; command: string; data: Record<string, unknown>; error: { type: string; message: string; details: Array<{ path: string; message: string }> } };

beforeAll(async () => {
  s3 = await startTestS3();
  await s3.createBucket(BUCKET);
  cwd = await mkdtemp(join(tmpdir(), 'recc-data-cli-'));
  await writeFile(
    join(cwd, 'recc.datastores.yaml'),
    [
      'stores:',
      '  LOCAL: { type: local, root: local }',
      '  SCRATCH: { type: local, root: scratch }',
      `  S3: { type: s3, bucket: ${BUCKET}, prefix: research/, region: us-east-1, endpoint: "${s3.endpoint}" }`,
      'read: [LOCAL, S3]',
      'write: S3',
      '',
    ].join('\n'),
  );
  // prices/: two small partitions and one of 20 MiB (a multipart upload: 3 parts of 8 MiB).
  await mkdir(join(cwd, 'local/prices/date=2024-01-02'), { recursive: true });
  await mkdir(join(cwd, 'local/prices/date=2024-01-03'), { recursive: true });
  await mkdir(join(cwd, 'local/prices/date=2024-01-04'), { recursive: true });
  await writeFile(join(cwd, 'local/prices/date=2024-01-02/part-0.csv'), 'symbol,close\nA,1\n');
  await writeFile(join(cwd, 'local/prices/date=2024-01-03/part-0.csv'), 'symbol,close\nA,2\n');
  await writeFile(join(cwd, 'local/prices/date=2024-01-04/part-0.bin'), Buffer.alloc(20 * 1024 * 1024, 7));
  await writeFile(join(cwd, 'local/other.txt'), 'not under prices/');
}, 60_000);

afterAll(async () => {
  await s3?.stop();
  if (cwd) await rm(cwd, { recursive: true, force: true });
});

describe('recc data', () => {
  it('ls lists the configured stores, the read order and the write target', async () => {
    const [r, text] = await Promise.all([recc('ls', '--json'), recc('ls')]);
    expect(r.code, r.stderr).toBe(0);
    const d = json(r.stdout);
    expect(d.command).toBe('data ls');
    expect(d.data.read).toEqual(['LOCAL', 'S3']);
    expect(d.data.write).toBe('S3');
    expect(d.data.stores).toEqual([
      { name: 'LOCAL', type: 'local', location: `local:${join(cwd, 'local')}`, read: 1, write: false, cache: false },
      { name: 'S3', type: 's3', location: `s3://${BUCKET}/research/`, read: 2, write: true, cache: false },
      { name: 'SCRATCH', type: 'local', location: `local:${join(cwd, 'scratch')}`, read: null, write: false, cache: false },
    ]);
    expect(text.stdout).toMatch(/^STORE\s+TYPE\s+READ\s+WRITE\s+LOCATION$/m);
    expect(text.stdout).toContain('read LOCAL → S3, write S3');
  });

  it('sync uploads only what changed, with progress on stderr; a second sync sends nothing', async () => {
    s3.resetCounts();
    const first = await recc('sync', 'LOCAL', 'S3', 'prices/', '--json', '--progress-interval', '20');
    expect(first.code, first.stderr).toBe(0);
    const d1 = json(first.stdout).data;
    expect(d1.copied).toEqual([
      { key: 'prices/date=2024-01-02/part-0.csv', size: 17, reason: 'new' },
      { key: 'prices/date=2024-01-03/part-0.csv', size: 17, reason: 'new' },
      { key: 'prices/date=2024-01-04/part-0.bin', size: 20 * 1024 * 1024, reason: 'new' },
    ]);
    expect(d1.unchanged).toBe(0);
    // Progress: plain lines (stderr is not a terminal), the last one with the total.
    const lines = first.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^sync LOCAL → S3: 0\/3 objects, 0 B\/20\.0 MiB \(0%\)/);
    expect(lines.at(-1)).toMatch(/^sync LOCAL → S3: 3\/3 objects, 20\.0 MiB, done in \d+s/);
    expect(s3.counts.PUT ?? 0).toBeGreaterThan(0);

    s3.resetCounts();
    const again = await recc('sync', 'LOCAL', 'S3', 'prices/', '--json');
    expect(again.code, again.stderr).toBe(0);
    const d2 = json(again.stdout).data;
    expect(d2.copied).toEqual([]);
    expect(d2.unchanged).toBe(3);
    // Nothing uploaded: no PUT (single or part) and no POST (multipart start/complete).
    expect(s3.counts.PUT ?? 0).toBe(0);
    expect(s3.counts.POST ?? 0).toBe(0);
  });

  it('sync notices a same-size edit by content and a new file; --dry-run copies nothing', async () => {
    await writeFile(join(cwd, 'local/prices/date=2024-01-03/part-0.csv'), 'symbol,close\nA,9\n');
    await mkdir(join(cwd, 'local/prices/date=2024-01-05'), { recursive: true });
    await writeFile(join(cwd, 'local/prices/date=2024-01-05/part-0.csv'), 'symbol,close\nA,5\n');
    const dry = await recc('sync', 'LOCAL', 'S3', 'prices/', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('would copy prices/date=2024-01-03/part-0.csv (content, 17 B)');
    expect(dry.stdout).toContain('would copy prices/date=2024-01-05/part-0.csv (new, 17 B)');
    expect(dry.stdout).toContain('would copy 2 objects (34 B) from LOCAL to S3; 2 unchanged');
    const real = await recc('sync', 'LOCAL', 'S3', 'prices/', '--json', '--quiet');
    expect(real.stderr).toBe('');
    const d = json(real.stdout).data;
    expect(d.copied).toEqual([
      { key: 'prices/date=2024-01-03/part-0.csv', size: 17, reason: 'content' },
      { key: 'prices/date=2024-01-05/part-0.csv', size: 17, reason: 'new' },
    ]);
    expect(d.unchanged).toBe(2);
  });

  it('ls, stat and cp between stores', async () => {
    const ls = await recc('ls', 'S3', 'prices/', '--json');
    expect(ls.code, ls.stderr).toBe(0);
    const d = json(ls.stdout).data;
    expect((d.objects as Array<{ key: string }>).map((o) => o.key)).toEqual([
      'prices/date=2024-01-02/part-0.csv',
      'prices/date=2024-01-03/part-0.csv',
      'prices/date=2024-01-04/part-0.bin',
      'prices/date=2024-01-05/part-0.csv',
    ]);
    expect(d.count).toBe(4);
    const [st, cp] = await Promise.all([
      recc('stat', 'S3', 'prices/date=2024-01-04/part-0.bin'),
      // A "directory" without a trailing slash copies everything under it.
      recc('cp', 'S3', 'SCRATCH', 'prices', '--json', '--quiet'),
    ]);
    expect(st.stdout).toMatch(/size\s+20971520 bytes \(20\.0 MiB\)/);
    expect(st.stdout).toMatch(/etag\s+[0-9a-f]{32}-3/);
    expect(cp.code, cp.stderr).toBe(0);
    expect(json(cp.stdout).data.count).toBe(4);
    expect((await stat(join(cwd, 'scratch/prices/date=2024-01-04/part-0.bin'))).size).toBe(20 * 1024 * 1024);
    expect(await readFile(join(cwd, 'scratch/prices/date=2024-01-03/part-0.csv'), 'utf8')).toBe('symbol,close\nA,9\n');
    const one = await recc('cp', 'LOCAL', 'SCRATCH', 'other.txt');
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain('copied 1 objects (17 B) from LOCAL to SCRATCH');
  });

  it('an unknown store is a usage error listing the known ones', async () => {
    // Independent processes: run them side by side.
    const [r, j, missing, badKey] = await Promise.all([
      recc('ls', 'NOPE'),
      recc('sync', 'LOCAL', 'S4', 'prices/', '--json'),
      recc('stat', 'S3', 'prices/nope.csv'),
      recc('stat', 'LOCAL', '../../etc/passwd'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown store "NOPE"; expected one of LOCAL, S3, SCRATCH');
    expect(j.code).toBe(2);
    const e = json(j.stdout);
    expect(e.ok).toBe(false);
    expect(e.command).toBe('data sync');
    expect(e.error.type).toBe('ValidationError');
    expect(e.error.message).toContain('unknown store "S4"; expected one of LOCAL, S3, SCRATCH');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('S3: no object at "prices/nope.csv"');
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toContain('invalid key "../../etc/passwd"');
  });

  it('a malformed config names the file, the field and what was expected', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'recc-data-bad-'));
    const notYaml = await mkdtemp(join(tmpdir(), 'recc-data-bad-'));
    try {
      await writeFile(join(bad, 'recc.datastores.yaml'), 'stores:\n  S3: { type: s3, bucket: Not_A_Bucket }\n  X: { type: ftp }\nread: [S3, GHOST]\n');
      await writeFile(join(notYaml, 'recc.datastores.yaml'), 'stores: [unclosed\n');
      const [r, y] = await Promise.all([
        runCli(['data', 'ls', '--json'], { cwd: bad, env: { ...env(), HOME: bad } }),
        runCli(['data', 'ls'], { cwd: notYaml, env: { ...env(), HOME: notYaml } }),
      ]);
      expect(r.code).toBe(2);
      const e = json(r.stdout).error;
      expect(e.message).toContain(join(bad, 'recc.datastores.yaml'));
      expect(e.details).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ path: 'stores.S3.bucket', message: expect.stringContaining('expected an S3 bucket name') }),
          expect.objectContaining({ path: 'stores.X.type', message: expect.stringContaining('expected a store with type "local"') }),
        ]),
      );
      expect(y.code).toBe(2);
      expect(y.stderr).toMatch(/cannot read datastore configuration .*recc\.datastores\.yaml.*expected YAML with stores, read and write/);
      expect(y.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await rm(bad, { recursive: true, force: true });
      await rm(notYaml, { recursive: true, force: true });
    }
  });

  it('a bucket without permission is an error naming the store and what was expected', async () => {
    s3.forbidBucket(BUCKET);
    try {
      const [r, sync] = await Promise.all([recc('ls', 'S3', 'prices/'), recc('sync', 'LOCAL', 'S3', 'prices/', '--json')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`S3: access denied to s3://${BUCKET}/research/; expected read and write permission on that bucket and prefix`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(sync.code).toBe(1);
      expect(json(sync.stdout).error.type).toBe('DatastoreAccessDeniedError');
    } finally {
      s3.forbidBucket(undefined);
    }
  });
});
