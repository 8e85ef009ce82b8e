import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalProcessBackend } from '../../../adapters/local-backend/index.ts';
import { generateClusterSecrets } from '../../../adapters/secrets/index.ts';
import { SourceInputError, SourceNotPublishedError, listPublished, publishBranch } from '../../../adapters/source/store.ts';
import { secretsRequestFor } from '../../../control/provisioner.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import type { ClusterDefinition } from '../../../shared/definition/types.ts';
import { runCli } from '../../support/cli-run.ts';
import { processesOfCluster, tempStateDir } from '../../support/local-stack.ts';
import { planFixture, specFixture } from '../../support/local-stack-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Issue 17 item 2: `recc source publish BRANCH` copies a branch's last commit
 * (through a temporary git worktree) into the shared source store, and the
 * local backend runs a cluster with `sourceGitBranch` from it, as EKS pods run
 * from the branch mounted from EFS. Real git, real processes.
 */
const root = mkdtempSync(join(tmpdir(), 'recc-source-'));
const repo = join(root, 'repo');
const store = join(root, 'store');
const stateDir = tempStateDir('source-backend');

function git(...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=t@example.org', '-c', 'commit.gpgsign=false', ...args], { cwd: repo, encoding: 'utf8' }).trim();
}

function definitionFor(clusterId: string, overrides: Record<string, unknown>): ClusterDefinition {
  return renderCluster({ clusterId, owner: 'tester', namespace: `recc-tester-${clusterId}`, spec: specFixture({ nWorkers: 1, workerCpu: 1, workerMemoryGiB: 0.5, ...overrides }), plan: planFixture() });
}

beforeAll(() => {
  mkdirSync(repo);
  git('init', '-q', '-b', 'main');
  writeFileSync(join(repo, 'README.md'), 'main branch\n');
  git('add', '.');
  git('commit', '-q', '-m', 'main');
  git('checkout', '-q', '-b', 'feature/fx-rates');
  mkdirSync(join(repo, 'research'));
  writeFileSync(join(repo, 'research', 'model.ts'), 'export const rate = 1.25;\n');
  writeFileSync(join(repo, 'old.txt'), 'removed in the second commit\n');
  git('add', '.');
  git('commit', '-q', '-m', 'fx');
  // Uncommitted work in the checkout is never published.
  writeFileSync(join(repo, 'research', 'model.ts'), 'export const rate = 999; // not committed\n');
  writeFileSync(join(repo, 'scratch.txt'), 'untracked\n');
});

afterAll(async () => {
  const b = new LocalProcessBackend({ stateDir, baseEnv: process.env, sourceStoreDir: store });
  for (const ref of await b.list()) await b.teardown(ref.clusterId);
  rmSync(root, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
});

describe('Command: recc source publish', () => {
  it('publishes the committed tree of the branch, without .git or uncommitted changes, and leaves no worktree behind', async () => {
    // Act
    const run = await runCli(['source', 'publish', 'feature/fx-rates', '--repo', repo, '--store', store, '--json']);

    // Assess
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { ok: boolean; data: { branch: string; commit: string; files: number; path: string } };
    expect(out.ok).toBe(true);
    expect(out.data.branch).toBe('feature/fx-rates');
    expect(out.data.commit).toBe(git('rev-parse', 'feature/fx-rates'));
    expect(out.data.path).toBe(join(store, 'feature', 'fx-rates'));
    const tree = out.data.path;
    expect(readFileSync(join(tree, 'research', 'model.ts'), 'utf8')).toBe('export const rate = 1.25;\n');
    expect(existsSync(join(tree, 'scratch.txt'))).toBe(false);
    expect(existsSync(join(tree, '.git'))).toBe(false);
    expect(out.data.files).toBe(3);
    expect(readdirSync(join(store, '.staging'))).toEqual([]);
    expect(git('worktree', 'list').split('\n')).toHaveLength(1);
    expect(git('status', '--porcelain')).toContain('scratch.txt');
  });

  it('replaces the tree on a new publish: files deleted in the branch are gone, the manifest names the new commit', async () => {
    // Prepare
    git('stash', '-q', '--include-untracked');
    git('rm', '-q', 'old.txt');
    git('commit', '-q', '-m', 'drop old');
    git('stash', 'pop', '-q');

    // Act
    const published = await publishBranch({ repoDir: repo, branch: 'feature/fx-rates', storeDir: store });

    // Assess
    expect(published.commit).toBe(git('rev-parse', 'HEAD'));
    expect(existsSync(join(published.path, 'old.txt'))).toBe(false);
    expect(readdirSync(join(store, '.staging'))).toEqual([]);
    const listed = await listPublished(store);
    expect(listed.map((p) => [p.branch, p.commit])).toEqual([['feature/fx-rates', published.commit]]);
    const list = await runCli(['source', 'list', '--store', store]);
    expect(list.stdout).toContain('feature/fx-rates');
    expect(list.stdout).toContain(published.commit.slice(0, 12));
  });

  it.each([
    [['../../etc'], 'branch'],
    [['feature/.hidden'], 'branch'],
    [['no-such-branch'], 'local branches: feature/fx-rates, main'],
    [['main', '--repo', '/nonexistent/dir'], 'is not a directory'],
    [['main', '--repo', tmpdir()], 'not inside a git repository'],
  ])('refuses %j with exit 2 and a clear reason', async (args, reason) => {
    // Act
    const run = await runCli(['source', 'publish', ...args, ...(args.includes('--repo') ? [] : ['--repo', repo]), '--store', store, '--json']);

    // Assess
    expect(run.code, run.stdout + run.stderr).toBe(2);
    const out = JSON.parse(run.stdout) as { ok: boolean; error: { message: string; details: Array<{ path: string; message: string }> } };
    expect(out.ok).toBe(false);
    expect(JSON.stringify(out.error)).toContain(reason);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a branch of another repository that would sit above a published one', async () => {
    // Prepare: git cannot hold `feature` beside `feature/fx-rates`, but another repository publishing to the same store can.
    const other = join(root, 'other');
    mkdirSync(other);
    const g = (...args: string[]) => execFileSync('git', ['-c', 'user.name=T', '-c', 'user.email=t@example.org', ...args], { cwd: other, encoding: 'utf8' });
    g('init', '-q', '-b', 'feature');
    writeFileSync(join(other, 'x.txt'), 'x\n');
    g('add', '.');
    g('commit', '-q', '-m', 'x');

    // Act
    const err = await publishBranch({ repoDir: other, branch: 'feature', storeDir: store }).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(SourceInputError);
    expect(JSON.stringify((err as SourceInputError).details)).toContain('published branches live under it: feature/fx-rates');
    expect(existsSync(join(store, 'feature', 'fx-rates', 'research', 'model.ts'))).toBe(true);
  });
});

describe('Class: LocalProcessBackend (sourceGitBranch and image)', () => {
  it('refuses a cluster whose branch is not published, saying how to publish it', async () => {
    // Prepare
    const b = new LocalProcessBackend({ stateDir, baseEnv: process.env, sourceStoreDir: store });
    const def = definitionFor('src-missing', { sourceGitBranch: 'main' });

    // Act
    const err = await b.apply(def, await generateClusterSecrets(secretsRequestFor(def))).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(SourceNotPublishedError);
    expect((err as SourceNotPublishedError).exposable).toBe(true);
    expect((err as Error).message).toContain('recc source publish main');
    expect(processesOfCluster('src-missing')).toEqual([]);
  });

  it('runs scheduler and workers in the published tree with RECC_SOURCE_DIR, and says in the log that the image is not used', async () => {
    // Prepare
    const b = new LocalProcessBackend({ stateDir, baseEnv: process.env, sourceStoreDir: store });
    const def = definitionFor('src-ok', { sourceGitBranch: 'feature/fx-rates', image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/recc:2.1' });
    const tree = join(store, 'feature', 'fx-rates');

    // Act
    await b.apply(def, await generateClusterSecrets(secretsRequestFor(def)));
    await waitFor(async () => (await b.observe('src-ok')).ready, { what: 'cluster ready', timeoutMs: 60_000 });

    // Assess
    const pids = processesOfCluster('src-ok');
    expect(pids.length).toBeGreaterThanOrEqual(2);
    for (const pid of pids) {
      expect(readlinkSync(`/proc/${pid}/cwd`)).toBe(tree);
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      expect(environ).toContain(`RECC_SOURCE_DIR=${tree}`);
      expect(environ).toContain('RECC_SOURCE_BRANCH=feature/fx-rates');
    }
    const log = readFileSync(join(b.logsDir('src-ok'), 'scheduler.log'), 'utf8');
    const notes = log.split('\n').slice(0, 2).map((l) => JSON.parse(l) as { message: string });
    expect(notes[0]?.message).toContain('image "123456789012.dkr.ecr.us-east-1.amazonaws.com/recc:2.1" is not used by the local backend');
    expect(notes[1]?.message).toContain(`source branch "feature/fx-rates" at commit ${git('rev-parse', 'feature/fx-rates')}`);

    await b.teardown('src-ok');
    expect(processesOfCluster('src-ok')).toEqual([]);
  });
});
