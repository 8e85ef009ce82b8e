import { Option, type Command } from 'commander';
import { addSpecFlags, specOverridesOrThrow, type SpecFlagValues } from '../spec-flags.ts';

/**
 * `recc job …`: scheduled jobs on job-dedicated clusters, through the recc
 * API (same URL, credentials and `--json` envelope as `recc cluster`).
 * Each run gets its own cluster, deleted when the run ends.
 */
export interface JobFlags extends SpecFlagValues {
  api?: string;
  token?: string;
  json?: boolean;
  owner?: string;
  schedule?: string;
  timezone?: string;
  template?: string;
  entry?: string;
  export?: string;
  command?: string;
  param?: string[];
  concurrency?: string;
  catchUp?: string;
  preRunningTimeout?: string;
  activeTimeout?: string;
  driverIdleTimeout?: string;
  retries?: string;
  retryBackoff?: string;
  keepClusterOnFailure?: boolean;
  runTtlDays?: string;
  disable?: boolean;
  enable?: boolean;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

function withApi(command: Command): Command {
  return command
    .option('--api <url>', 'API URL (default: $RECC_API_URL, ~/.recc/config.json, or http://127.0.0.1:4600)')
    .option('--token <token>', 'bearer token of a local stack started with --token (default: $RECC_API_TOKEN)')
    .option('--json', 'print the answer in the JSON envelope (see README)');
}

function definitionFlags(command: Command): Command {
  command
    .option('--schedule <expr>', "cron(min hour dom month dow year), rate(N unit) or at(yyyy-mm-ddThh:mm:ss), e.g. 'rate(1 hour)'")
    .option('--timezone <zone>', 'IANA time zone of the schedule (default UTC), e.g. Europe/London')
    .option('--template <name>', 'cluster template for each run (see `recc templates`)')
    .option('--entry <module>', 'module of the published source the driver runs, e.g. examples/backfill-job.ts')
    .option('--export <name>', 'call this export of the module with the params (default: run the module as a script)')
    .option('--command <argv>', 'run this command instead of a module (split on spaces)')
    .addOption(new Option('--param <NAME=VALUE>', 'parameter for the entry (repeatable; RECC_JOB_PARAMS)').argParser(collect))
    .addOption(new Option('--concurrency <policy>', 'when a run is due while another is active').choices(['Forbid', 'Allow', 'Replace']))
    .addOption(new Option('--catch-up <policy>', 'fires missed while the local stack was down').choices(['run-latest', 'record-missed']))
    .option('--pre-running-timeout <seconds>', 'the cluster must be RUNNING this soon (default 900)')
    .option('--active-timeout <seconds>', 'the whole run must end this soon (default 14400)')
    .option('--driver-idle-timeout <seconds>', 'the driver may print nothing this long (default 3600)')
    .option('--retries <n>', 'extra attempts after a FAILED or TIMED_OUT run (default 0)')
    .option('--retry-backoff <seconds>', 'delay before the first retry, doubling (default 60)')
    .option('--keep-cluster-on-failure', 'leave a failed run\'s cluster for inspection (the harvester still reaps it when idle)')
    .option('--run-ttl-days <days>', 'keep run records this many days (default 30)');
  return addSpecFlags(command);
}

export function registerJob(program: Command): void {
  const group = program.command('job').description('scheduled jobs: each run on a cluster of its own, deleted when the run ends');

  withApi(definitionFlags(group.command('create <name>').description('create a job and its schedule'))).action(async (name: string, flags: JobFlags) => {
    const cli = await import('./job-actions.ts');
    await cli.create(name, flags, await specOverridesOrThrow(flags));
  });
  withApi(
    definitionFlags(group.command('update <name>').description('change a job (only the flags given); the whole definition is re-validated'))
      .option('--disable', 'pause the schedule')
      .option('--enable', 'resume the schedule')
      .option('--owner <user>', "another user's job (admins)"),
  ).action(async (name: string, flags: JobFlags) => {
    const cli = await import('./job-actions.ts');
    await cli.update(name, flags, await specOverridesOrThrow(flags));
  });
  withApi(group.command('get <name>').description('one job: schedule, next fire, entry, policies').option('--owner <user>', "another user's job (admins)")).action(
    async (name: string, flags: JobFlags) => (await import('./job-actions.ts')).get(name, flags),
  );
  withApi(
    group
      .command('list')
      .description('your jobs (every page, unless --limit or --next-token)')
      .option('--all', "every user's jobs (admins)")
      .option('--limit <n>', 'one page of at most this many jobs (1-1000)')
      .option('--next-token <token>', 'the page after the one that printed this token'),
  ).action(async (flags: JobFlags & { all?: boolean; limit?: string; nextToken?: string }) =>
    (await import('./job-actions.ts')).list(flags),
  );
  withApi(group.command('delete <name>').description('delete a job and its schedule; active runs are cancelled').option('--owner <user>', "another user's job (admins)")).action(
    async (name: string, flags: JobFlags) => (await import('./job-actions.ts')).remove(name, flags),
  );
  withApi(group.command('run <name>').description('run now (the same path as a scheduled fire)').option('--owner <user>', "another user's job (admins)")).action(
    async (name: string, flags: JobFlags) => (await import('./job-actions.ts')).runNow(name, flags),
  );
  withApi(
    group
      .command('runs <name>')
      .description('run history, newest first: status, result, duration, cost and reason')
      .option('--owner <user>', "another user's job (admins)")
      .option('--limit <n>', 'one page of at most this many runs, newest first (1-1000; default: every page)')
      .option('--next-token <token>', 'the page after the one that printed this token'),
  ).action(async (name: string, flags: JobFlags & { limit?: string; nextToken?: string }) => (await import('./job-actions.ts')).runs(name, flags));
  withApi(
    group
      .command('logs <run>')
      .description("a run's driver output (kept after its cluster is deleted); with --component/--since/--grep/--follow, its cluster's logs as `recc cluster logs` prints them")
      .option('--component <component>', 'scheduler, worker, driver or control: read the run cluster logs')
      .option('--since <time>', "the run cluster's lines from this time (ISO time or 15m, 2h, 3d)")
      .option('--grep <text>', "the run cluster's lines containing this text")
      .option('--follow', "keep printing the run cluster's new lines"),
  ).action(async (run: string, flags: JobFlags & { component?: string; since?: string; grep?: string; follow?: boolean }) => (await import('./job-actions.ts')).logs(run, flags));
  withApi(group.command('cancel <run>').description('cancel a run: its driver is killed, then its cluster deleted')).action(async (run: string, flags: JobFlags) =>
    (await import('./job-actions.ts')).cancel(run, flags),
  );
}
