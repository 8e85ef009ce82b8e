import type { Command } from 'commander';
import { addSpecFlags, parseNumberFlag, specOverridesOrThrow, type SpecFlagValues } from '../spec-flags.ts';
import { registerClusterLogs } from './cluster-logs.ts';
import { registerClusterKubeconfig } from './kubeconfig.ts';

/**
 * `recc cluster …`: create, list, get, delete and scale clusters through the
 * recc API (AWS: API Gateway with SigV4 from the default AWS credential
 * chain, so SSO profiles work; locally: `recc up`).
 *
 * The API URL comes from `--api`, else RECC_API_URL, else the config file
 * (`~/.recc/config.json`: `{"apiUrl", "token"}`), else http://127.0.0.1:4600.
 * Heavy modules (the API client, AWS signing) load inside the actions.
 * Every command that takes a cluster takes its id or its name.
 */
interface ApiFlags {
  api?: string;
  token?: string;
  json?: boolean;
}

interface CreateFlags extends SpecFlagValues, ApiFlags {
  template?: string;
  name?: string;
  job?: string;
  clientToken?: string;
  wait?: boolean;
}

function withApi(command: Command): Command {
  return command
    .option('--api <url>', 'API URL (default: $RECC_API_URL, ~/.recc/config.json, or http://127.0.0.1:4600)')
    .option('--token <token>', 'bearer token of a local stack started with --token (default: $RECC_API_TOKEN)');
}

export function registerCluster(program: Command): void {
  const group = program.command('cluster').description('create, list, inspect, scale and delete clusters through the recc API');

  const create = group
    .command('create')
    .description('create a cluster (prints its $/hour estimate); --wait follows it until RUNNING')
    .option('--template <name|path>', 'template name (see `recc templates`) or path to a YAML spec file');
  addSpecFlags(create)
    .option('--name <name>', 'cluster name (default: template or job and the UTC time, e.g. small-dec04-1837)')
    .option('--job <job>', 'job name, for cost attribution')
    .option('--client-token <token>', 'idempotency key: repeating the command with it returns the same cluster')
    .option('--wait', 'wait until the cluster is RUNNING, showing each status change')
    .option('--json', 'print the API answer in the JSON envelope (see README)');
  withApi(create).action(async (flags: CreateFlags) => {
    const cli = await import('./cluster-actions.ts');
    await cli.create(flags, await specOverridesOrThrow(flags));
  });

  withApi(
    group
      .command('list')
      .description('your clusters, newest first')
      .option('--all', "every user's clusters (admins only)")
      .option('--status <status>', 'only clusters in this status: requested, provisioning, running, deleting, deleted or failed (any case)')
      .option('--limit <n>', 'one page of at most N clusters (1-1000); prints the token of the next page')
      .option('--next-token <token>', 'the page after the one that printed this token')
      .option('--json', 'print the clusters as JSON'),
  ).action(async (flags: ApiFlags & { all?: boolean; status?: string; limit?: string; nextToken?: string }) => {
    const cli = await import('./cluster-actions.ts');
    await cli.list(flags);
  });

  withApi(group.command('get <cluster>').description('one cluster: status, plan, cost and how to connect').option('--json', 'print the cluster as JSON')).action(
    async (id: string, flags: ApiFlags) => {
      const cli = await import('./cluster-actions.ts');
      await cli.get(id, flags);
    },
  );

  withApi(
    group
      .command('delete <cluster>')
      .description('delete a cluster (idempotent); --wait follows it until DELETED')
      .option('--wait', 'wait until the cluster is DELETED')
      .option('--json', 'print the cluster as JSON'),
  ).action(async (id: string, flags: ApiFlags & { wait?: boolean }) => {
    const cli = await import('./cluster-actions.ts');
    await cli.remove(id, flags);
  });

  withApi(
    group
      .command('scale <cluster>')
      .description('change the number of workers')
      .requiredOption('--workers <n>', 'the new number of workers')
      .option('--json', 'print the cluster as JSON'),
  ).action(async (id: string, flags: ApiFlags & { workers: string }) => {
    const cli = await import('./cluster-actions.ts');
    await cli.scale(id, parseNumberFlag(flags.workers), flags);
  });

  withApi(
    group
      .command('dashboard <cluster>')
      .description("print (and at a terminal, open) a short-lived signed link to the cluster's live dashboard (the token is never in it)")
      .option('--ttl <seconds>', 'how long the link works (at most 900)', '120')
      .option('--json', 'print {url, expiresAt} as JSON')
      .option('--open', 'open the link in a browser ($BROWSER, else the system opener); the default at a terminal')
      .option('--no-open', 'only print the link'),
  ).action(async (id: string, flags: ApiFlags & { ttl?: string; open?: boolean }) => {
    const cli = await import('./cluster-actions.ts');
    await cli.dashboard(id, flags);
  });

  registerClusterLogs(group);
  registerClusterKubeconfig(group);
}
