import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * comm/launch.ts bundles the engine once and reuses the bundle while its sources are unchanged. A user's
 * notebook or `recc up` runs from their own directory, not the package root: esbuild then reported its
 * inputs relative to that directory, the manifest could not stat them, every build was thrown away, and
 * every scheduler and worker ran from source through tsx, silently (8 % more CPU per round trip on a
 * fresh cluster, bench/FINDINGS.md §2i). Each case runs ensureBundle in a child process whose working
 * directory is elsewhere, building into a directory of its own.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const LAUNCH = join(ROOT, 'comm', 'launch.ts');
const TSX = import.meta.resolve('tsx/esm');
const scratch = mkdtempSync(join(tmpdir(), 'recc-launch-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

type Built = { ok: true; built: boolean } | { ok: false; reason: string };

/** ensureBundle(dir) in a fresh node process started in `cwd`. */
function ensureFrom(cwd: string, dir: string): Built {
  const code = `const { ensureBundle } = await import(${JSON.stringify(LAUNCH)}); console.log(JSON.stringify(ensureBundle(${JSON.stringify(dir)})));`;
  const out = execFileSync(process.execPath, ['--import', TSX, '--input-type=module', '-e', code], { cwd, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').pop()!) as Built;
}

describe('Function: ensureBundle', () => {
  it('builds from any working directory, records the sources by their path in the package, and reuses the build', { timeout: 240_000 }, () => {
    // Prepare
    const dir = join(scratch, 'cache');

    // Act
    const first = ensureFrom(scratch, dir);
    const second = ensureFrom(tmpdir(), dir);

    // Assess
    expect(first).toEqual({ ok: true, built: true });
    expect(second).toEqual({ ok: true, built: false });
    for (const f of ['scheduler.mjs', 'worker.mjs', 'thread.mjs']) expect(existsSync(join(dir, f))).toBe(true);
    const inputs = (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { inputs: Record<string, number> }).inputs;
    expect(Object.keys(inputs)).toEqual(expect.arrayContaining(['scheduler/entry.ts', 'worker/entry.ts', 'worker/thread.ts', 'comm/comm.ts']));
    for (const [file, mtime] of Object.entries(inputs)) expect(statSync(join(ROOT, file)).mtimeMs).toBe(mtime);
    expect(readdirSync(dir).filter((f) => f.startsWith('build-'))).toEqual([]);
  });

  it('rebuilds when a source changed since the build', { timeout: 240_000 }, () => {
    // Prepare
    const dir = join(scratch, 'stale');
    expect(ensureFrom(scratch, dir)).toEqual({ ok: true, built: true });
    const manifest = join(dir, 'manifest.json');
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { inputs: Record<string, number> };
    m.inputs['worker/entry.ts'] = 1;
    writeFileSync(manifest, JSON.stringify(m));

    // Act
    const again = ensureFrom(scratch, dir);

    // Assess
    expect(again).toEqual({ ok: true, built: true });
    expect((JSON.parse(readFileSync(manifest, 'utf8')) as { inputs: Record<string, number> }).inputs['worker/entry.ts']).toBe(statSync(join(ROOT, 'worker/entry.ts')).mtimeMs);
  });

  it('removes what a builder killed mid-build left, once it is an hour old', { timeout: 240_000 }, () => {
    // Prepare: two leftover build directories, one old and one recent (a build that may still be running)
    const dir = join(scratch, 'leftovers');
    const old = join(dir, 'build-999991');
    const recent = join(dir, 'build-999992');
    for (const d of [old, recent]) {
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, 'worker.mjs'), '// partial');
    }
    const hoursAgo = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(old, hoursAgo, hoursAgo);

    // Act
    const got = ensureFrom(scratch, dir);

    // Assess
    expect(got).toEqual({ ok: true, built: true });
    expect(existsSync(old)).toBe(false);
    expect(existsSync(recent)).toBe(true);
  });

  it('reports why it could not build, and leaves no partial build behind', { timeout: 120_000 }, () => {
    // Prepare: the cache directory's parent is a file
    const blocker = join(scratch, 'not-a-dir');
    writeFileSync(blocker, 'x');

    // Act
    const got = ensureFrom(scratch, join(blocker, 'cache'));

    // Assess
    expect(got.ok).toBe(false);
    expect((got as { reason: string }).reason).toMatch(/ENOTDIR|not a directory/);
    expect(readFileSync(blocker, 'utf8')).toBe('x');
  });
});
