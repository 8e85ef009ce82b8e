import type { Command } from 'commander';
import type { DataFlags } from './data-actions.ts';

/**
 * `recc data ls|stat|cp|sync`: the named datastores of `recc.datastores.yaml`
 * and RECC_DATASTORES_* (see README "Datastores"). Copies stream in chunks
 * and show progress on stderr; `--json` prints the envelope of cli/output.ts.
 */
function common(command: Command): Command {
  return command.option('--json', 'print the result in the JSON envelope (see README)');
}

function copying(command: Command): Command {
  return common(command)
    .option('--concurrency <n>', 'objects copied at once (default 4)')
    .option('--quiet', 'no progress on stderr')
    .option('--progress-interval <ms>', 'period of the progress lines when stderr is not a terminal (default 10000)');
}

export function registerData(program: Command): void {
  const group = program.command('data').description('datastores: list, inspect, copy and sync objects between named stores (LOCAL, S3, …)');

  common(group.command('ls [store] [prefix]').description('with no store: the configured stores and the read order; with one: its objects under PREFIX')).action(
    async (store: string | undefined, prefix: string | undefined, flags: DataFlags) => (await import('./data-actions.ts')).ls(store, prefix, flags),
  );
  common(group.command('stat <store> <key>').description("one object's size, modification time and ETag")).action(async (store: string, key: string, flags: DataFlags) =>
    (await import('./data-actions.ts')).stat(store, key, flags),
  );
  copying(
    group
      .command('cp <from> <to> <path>')
      .description('copy one object, or every object under a prefix (PATH ending in "/", or naming a "directory"), from store FROM to store TO'),
  ).action(async (from: string, to: string, path: string, flags: DataFlags) => (await import('./data-actions.ts')).cp(from, to, path, flags));
  copying(
    group
      .command('sync <from> <to> [prefix]')
      .description('copy only the objects under PREFIX that are missing or changed at TO (size, ETag/MD5, then mtime); never deletes')
      .option('--dry-run', 'list what would be copied; copy nothing'),
  ).action(async (from: string, to: string, prefix: string | undefined, flags: DataFlags) => (await import('./data-actions.ts')).sync(from, to, prefix, flags));
}
