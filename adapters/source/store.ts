import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { gitBranchSchema } from '../../shared/spec/schema.ts';
import { SourceGitError, SourceInputError, SourceNotPublishedError } from './errors.ts';

export * from './errors.ts';

/**
 * The shared source store: one directory per published branch, the files of
 * the branch's last commit (no `.git`), and a manifest naming that commit.
 *
 *   <store>/<branch>/...                 the branch's tree (`feature/x` nests)
 *   <store>/<branch>/.recc-source.json   {branch, commit, publishedAt, files, bytes}
 *   <store>/.staging/                    work area of publishes in flight
 *
 * On AWS the store is the EFS file system of `RECC_EKS_EFS_FILE_SYSTEM_ID` at
 * `RECC_EKS_EFS_ROOT_PATH` (default `/branches`), which the scheduler and
 * worker pods mount read-only at `/opt/recc/src`; on `recc up` it is
 * `<state dir>/sources`, which the local backend uses the same way.
 *
 * A publish checks the branch out in a temporary `git worktree` (so the
 * caller's checkout and uncommitted changes are untouched), copies it into
 * `.staging/` on the store's own file system, then swaps it in with two
 * renames, so a cluster never sees a half-copied tree. Publishing again
 * replaces the tree; clusters already running keep the files they opened.
 */
export const SOURCE_MANIFEST = '.recc-source.json';
const STAGING = '.staging';

export interface PublishedSource {
  branch: string;
  commit: string;
  publishedAt: string;
  files: number;
  bytes: number;
  /** Where the tree is, in the store given. */
  path: string;
}

export interface PublishOptions {
  /** A git repository (any directory inside its work tree). */
  repoDir: string;
  branch: string;
  storeDir: string;
  now?: () => Date;
}

/** Every problem with a branch name as a store path (git's rules, and nothing that climbs out of the store). */
export function branchProblems(branch: unknown): string[] {
  const parsed = gitBranchSchema.safeParse(branch);
  if (!parsed.success) return parsed.error.issues.map((i) => i.message);
  const parts = (branch as string).split('/');
  if (parts.some((p) => p === '' || p === '.' || p.startsWith('.'))) return [`must not have an empty part or a part starting with "." (got ${JSON.stringify(branch)})`];
  return [];
}

/** The directory of `branch` in the store; throws SourceInputError for a name that is not a safe branch path. */
export function branchDir(storeDir: string, branch: string): string {
  const problems = branchProblems(branch);
  if (problems.length) throw new SourceInputError(`invalid branch name ${JSON.stringify(branch)}`, problems.map((message) => ({ path: 'branch', message })));
  const root = resolve(storeDir);
  const dir = resolve(root, ...branch.split('/'));
  if (!dir.startsWith(root + sep)) throw new SourceInputError(`invalid branch name ${JSON.stringify(branch)}`, [{ path: 'branch', message: 'resolves outside the store' }]);
  return dir;
}

/** The published tree of `branch`, or undefined when it was never published (or its manifest is unreadable). */
export async function readPublished(storeDir: string, branch: string): Promise<PublishedSource | undefined> {
  const dir = branchDir(storeDir, branch);
  try {
    const manifest = JSON.parse(await readFile(join(dir, SOURCE_MANIFEST), 'utf8')) as Partial<PublishedSource>;
    if (manifest.branch !== branch || typeof manifest.commit !== 'string') return undefined;
    return { branch, commit: manifest.commit, publishedAt: String(manifest.publishedAt ?? ''), files: Number(manifest.files ?? 0), bytes: Number(manifest.bytes ?? 0), path: dir };
  } catch {
    return undefined;
  }
}

/** The published tree of `branch`; SourceNotPublishedError (exposable, says how to publish) when it is not there. */
export async function requirePublished(storeDir: string, branch: string): Promise<PublishedSource> {
  const found = await readPublished(storeDir, branch);
  if (found) return found;
  throw new SourceNotPublishedError(
    `source branch "${branch}" is not published in ${resolve(storeDir)}: run \`recc source publish ${branch}\` in your repository (with --store ${resolve(storeDir)} if that is not the default), then create the cluster again`,
  );
}

/** Every published branch of the store, sorted by name. */
export async function listPublished(storeDir: string): Promise<PublishedSource[]> {
  const root = resolve(storeDir);
  const out: PublishedSource[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (entries.some((e) => e.name === SOURCE_MANIFEST && e.isFile())) {
      const found = await readPublished(root, relative(root, dir).split(sep).join('/'));
      if (found) out.push(found);
      return;
    }
    if (depth > 32) return;
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) await walk(join(dir, e.name), depth + 1);
  };
  await walk(root, 0);
  return out.sort((a, b) => a.branch.localeCompare(b.branch));
}

function git(cwd: string, args: string[]): Promise<string> {
  return new Promise((ok, fail) => {
    // No hooks (a post-checkout hook must not run on a publish), no prompts.
    execFile('git', ['-c', 'core.hooksPath=/dev/null', ...args], { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') fail(new SourceGitError('git is not installed (or not on PATH): recc source publish needs it', { cause: err }));
        else fail(new SourceGitError(`git ${args.join(' ')} failed: ${stderr.trim() || err.message}`, { cause: err }));
      } else ok(stdout.trim());
    });
  });
}

async function resolveCommit(repo: string, branch: string): Promise<string> {
  for (const ref of [`refs/heads/${branch}`, `refs/remotes/origin/${branch}`]) {
    try {
      return await git(repo, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    } catch {
      // try the next form
    }
  }
  const known = (await git(repo, ['for-each-ref', '--format=%(refname:short)', '--count=20', 'refs/heads/']).catch(() => '')).split('\n').filter(Boolean);
  throw new SourceInputError(`branch "${branch}" not found in ${repo}`, [
    { path: 'branch', message: `no local branch or origin/${branch}${known.length ? `; local branches: ${known.join(', ')}` : ''}` },
  ]);
}

async function treeSize(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    files += 1;
    bytes += (await lstat(join(e.parentPath, e.name))).size;
  }
  return { files, bytes };
}

/** Refuse a branch that would nest inside another published branch, or sit above others (`feature` vs `feature/x`). */
async function checkNesting(root: string, branch: string, target: string): Promise<void> {
  const parts = branch.split('/');
  for (let i = 1; i < parts.length; i += 1) {
    const above = parts.slice(0, i).join('/');
    if (await readPublished(root, above)) {
      throw new SourceInputError(`branch "${branch}" cannot be published beside "${above}"`, [
        { path: 'branch', message: `"${above}" is published in this store and "${branch}" would be inside its tree; rename one of the branches` },
      ]);
    }
  }
  const existing = await lstat(target).catch(() => undefined);
  if (!existing) return;
  if (!existing.isDirectory() || !(await readPublished(root, branch))) {
    const inside = existing.isDirectory() ? (await listPublished(root)).map((p) => p.branch).filter((b) => b.startsWith(`${branch}/`)) : [];
    throw new SourceInputError(`branch "${branch}" cannot be published: ${target} already exists and is not a published branch`, [
      { path: 'branch', message: inside.length ? `published branches live under it: ${inside.join(', ')}` : 'remove it, or choose another store' },
    ]);
  }
}

/**
 * Publish the last commit of `branch` to the store (see the file comment).
 * Idempotent: publishing the same commit again rewrites the same tree.
 */
export async function publishBranch(options: PublishOptions): Promise<PublishedSource> {
  const details = branchProblems(options.branch).map((message) => ({ path: 'branch', message }));
  const repoStat = await lstat(options.repoDir).catch(() => undefined);
  if (!repoStat?.isDirectory()) details.push({ path: 'repo', message: `${options.repoDir} is not a directory` });
  if (details.length) throw new SourceInputError('invalid options for recc source publish', details);
  const repo = await git(options.repoDir, ['rev-parse', '--show-toplevel']).catch((err: unknown) => {
    throw new SourceInputError(`${resolve(options.repoDir)} is not inside a git repository`, [{ path: 'repo', message: (err as Error).message }]);
  });
  const root = resolve(options.storeDir);
  const target = branchDir(root, options.branch);
  const commit = await resolveCommit(repo, options.branch);
  try {
    await mkdir(join(root, STAGING), { recursive: true });
  } catch (err) {
    throw new SourceInputError(`cannot use ${root} as the source store`, [{ path: 'store', message: (err as Error).message }], { cause: err });
  }
  await checkNesting(root, options.branch, target);

  const worktree = await mkdtemp(join(tmpdir(), 'recc-source-'));
  const staging = join(root, STAGING, `${randomBytes(6).toString('hex')}`);
  let worktreeAdded = false;
  try {
    await git(repo, ['worktree', 'add', '--detach', '--force', worktree, commit]);
    worktreeAdded = true;
    const gitLink = join(worktree, '.git');
    await cp(worktree, staging, { recursive: true, verbatimSymlinks: true, filter: (src) => src !== gitLink });
    const size = await treeSize(staging);
    const publishedAt = (options.now?.() ?? new Date()).toISOString();
    await writeFile(join(staging, SOURCE_MANIFEST), `${JSON.stringify({ branch: options.branch, commit, publishedAt, ...size }, null, 2)}\n`);
    await mkdir(join(target, '..'), { recursive: true });
    // Swap: old tree aside, new tree in. A concurrent publish of the same branch may win the race; retry.
    for (let attempt = 0; ; attempt += 1) {
      const aside = join(root, STAGING, `old-${randomBytes(6).toString('hex')}`);
      const hadOld = await rename(target, aside).then(() => true, (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      });
      try {
        await rename(staging, target);
        if (hadOld) await rm(aside, { recursive: true, force: true });
        break;
      } catch (err) {
        if (hadOld) await rename(aside, target).catch(() => undefined);
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || attempt >= 5) throw err;
      }
    }
    return { branch: options.branch, commit, publishedAt, ...size, path: target };
  } finally {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    if (worktreeAdded) await git(repo, ['worktree', 'remove', '--force', worktree]).catch(() => undefined);
    await rm(worktree, { recursive: true, force: true }).catch(() => undefined);
    await git(repo, ['worktree', 'prune']).catch(() => undefined);
  }
}

/** The store `recc up` and `recc source publish` share: `RECC_SOURCE_STORE`, else `<state dir>/sources`. */
export function defaultSourceStore(stateDir: string, env: Record<string, string | undefined> = {}): string {
  const configured = env.RECC_SOURCE_STORE?.trim();
  return resolve(configured ? configured : join(stateDir, 'sources'));
}
