import type { Command } from 'commander';

interface PublishFlags {
  repo: string;
  store?: string;
  stateDir: string;
  json?: boolean;
}

/**
 * `recc source publish BRANCH` and `recc source list`: the shared source store
 * that clusters with `sourceGitBranch` run from (adapters/source/store.ts).
 * The store is `--store`, else `$RECC_SOURCE_STORE`, else `<state dir>/sources`
 * (where `recc up` looks). On AWS, point `--store` at the EFS file system
 * mounted on this machine, at the root path of `RECC_EKS_EFS_ROOT_PATH`
 * (README "Deploy to AWS").
 */
export function registerSource(program: Command): void {
  const source = program.command('source').description('publish git branches for clusters with sourceGitBranch (the shared source store)');
  const storeOption = '--store <dir>';
  const storeHelp = 'source store directory (default: $RECC_SOURCE_STORE, else <state dir>/sources)';
  source
    .command('publish')
    .description("copy the last commit of BRANCH (a temporary git worktree, not your checkout) into the source store")
    .argument('<branch>', 'git branch to publish (local, or origin/<branch>)')
    .option('--repo <dir>', 'the git repository', '.')
    .option(storeOption, storeHelp)
    .option('--state-dir <dir>', 'state dir of `recc up`, whose store is <dir>/sources', '.recc')
    .option('--json', 'print the result as JSON')
    .action(async (branch: string, flags: PublishFlags) => {
      const { publishBranch, defaultSourceStore } = await import('../../adapters/source/store.ts');
      const storeDir = flags.store ?? defaultSourceStore(flags.stateDir, process.env);
      const published = await publishBranch({ repoDir: flags.repo, branch, storeDir });
      if (flags.json) {
        const { printJson } = await import('../output.ts');
        printJson(published);
        return;
      }
      process.stdout.write(
        `published ${published.branch} at ${published.commit.slice(0, 12)}: ${published.files} files, ${formatBytes(published.bytes)} in ${published.path}\n` +
          `clusters created with --source-branch ${published.branch} run from it (scheduler and workers: RECC_SOURCE_DIR)\n`,
      );
    });
  source
    .command('list')
    .description('list the branches published in the source store')
    .option(storeOption, storeHelp)
    .option('--state-dir <dir>', 'state dir of `recc up`, whose store is <dir>/sources', '.recc')
    .option('--json', 'print the result as JSON')
    .action(async (flags: Omit<PublishFlags, 'repo'>) => {
      const [{ listPublished, defaultSourceStore }, { formatColumns }] = await Promise.all([import('../../adapters/source/store.ts'), import('../../shared/core/text.ts')]);
      const storeDir = flags.store ?? defaultSourceStore(flags.stateDir, process.env);
      const published = await listPublished(storeDir);
      if (flags.json) {
        const { printJson } = await import('../output.ts');
        printJson({ store: storeDir, branches: published });
        return;
      }
      if (published.length === 0) {
        process.stdout.write(`no branch is published in ${storeDir}; run \`recc source publish BRANCH\` in your repository\n`);
        return;
      }
      const rows = [['BRANCH', 'COMMIT', 'PUBLISHED', 'FILES', 'SIZE'], ...published.map((p) => [p.branch, p.commit.slice(0, 12), p.publishedAt, String(p.files), formatBytes(p.bytes)])];
      process.stdout.write(`${formatColumns(rows)}\n`);
    });
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
