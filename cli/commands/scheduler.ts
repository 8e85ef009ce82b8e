import { Option, type Command } from 'commander';
import { ValidationError, type ErrorDetail } from '../../shared/core/errors.ts';
import { supervisorLeaseFromEnv } from '../../comm/supervisor-lease.ts';

function port(value: string, path: string, problems: ErrorDetail[]): number | undefined {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    problems.push({ path, message: `expected a port number 0-65535, got "${value}"` });
    return undefined;
  }
  return n;
}

/** The scheduler engine, as `load` gives it to the command. */
export type SchedulerMain = typeof import('../../scheduler/main.ts');

/**
 * `recc scheduler`: the compute engine's scheduler. The engine comes from
 * `load`: the full CLI imports it inside the action so other commands stay
 * fast; the process entry (scheduler/entry.ts) hands over its static import
 * (see registerWorker).
 */
export function registerScheduler(program: Command, load: () => Promise<SchedulerMain>): void {
  program
    .command('scheduler')
    .description('run the compute scheduler (prints one JSON line with "event":"scheduler.ready" when listening)')
    .requiredOption('--port <port>', 'TCP port to listen on (0 picks a free one)')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .requiredOption('--token-file <path>', 'file holding the shared token workers and clients must present')
    .option('--tls-cert <path>', 'PEM certificate (enables TLS)')
    .option('--tls-key <path>', 'PEM private key for --tls-cert')
    .option('--tls-ca <path>', 'PEM CA bundle')
    .option('--dashboard-port <port>', 'serve /health, /api/status and a status page on this port (0 picks one)')
    .option('--resource-wait-timeout <seconds>', 'fail tasks whose resources no worker offers after waiting this long')
    .option('--heartbeat-timeout <seconds>', 'remove workers silent this long', '30')
    .option('--allowed-failures <n>', 'a task running on this many workers that died errs with KilledWorkerError', '3')
    .addOption(new Option('--listen-fd <fd>', 'serve this inherited descriptor of a bound, listening socket (--port names its port)').hideHelp())
    .addOption(new Option('--watch-parent', 'exit when the parent process goes away').hideHelp())
    .addOption(new Option('--owned-dir <dir>', 'remove this recc-local-* directory when the parent goes away').hideHelp())
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const problems: ErrorDetail[] = [];
      const p = port(String(opts.port), 'port', problems);
      const dash = opts.dashboardPort === undefined ? undefined : port(String(opts.dashboardPort), 'dashboard-port', problems);
      if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) problems.push({ path: 'tls-key', message: '--tls-cert and --tls-key go together' });
      const nwt = opts.resourceWaitTimeout === undefined ? undefined : Number(opts.resourceWaitTimeout);
      if (nwt !== undefined && !(nwt > 0)) problems.push({ path: 'resource-wait-timeout', message: 'expected a positive number of seconds' });
      const hbt = Number(opts.heartbeatTimeout);
      if (!(hbt > 0)) problems.push({ path: 'heartbeat-timeout', message: 'expected a positive number of seconds' });
      const allowedFailures = Number(opts.allowedFailures);
      if (!Number.isInteger(allowedFailures) || allowedFailures < 1) problems.push({ path: 'allowed-failures', message: `expected a positive integer, got "${String(opts.allowedFailures)}"` });
      const listenFd = opts.listenFd === undefined ? undefined : Number(opts.listenFd);
      if (listenFd !== undefined && !(Number.isInteger(listenFd) && listenFd >= 3)) problems.push({ path: 'listen-fd', message: `expected an inherited descriptor number (3 or more), got "${String(opts.listenFd)}"` });
      const supervisorLease = supervisorLeaseFromEnv(process.env, problems);
      if (problems.length > 0) throw new ValidationError('invalid scheduler options', problems);
      // Issue 21: with RECC_LOG_GROUP set, this process's lines also go to CloudWatch Logs, the token scrubbed (docs/logs.md).
      const shipping = process.env.RECC_LOG_GROUP ? (await import('../../adapters/logs/process.ts')).startLogShipping('scheduler', process.env, { secretFiles: [String(opts.tokenFile)] }) : undefined;
      const { runSchedulerProcess } = await load();
      const code = await runSchedulerProcess({
        host: String(opts.host),
        port: p as number,
        ...(listenFd !== undefined ? { listenFd } : {}),
        tokenFile: String(opts.tokenFile),
        ...(opts.tlsCert ? { tlsCert: String(opts.tlsCert), tlsKey: String(opts.tlsKey) } : {}),
        ...(opts.tlsCa ? { tlsCa: String(opts.tlsCa) } : {}),
        ...(dash !== undefined ? { dashboardPort: dash } : {}),
        watchParent: Boolean(opts.watchParent),
        ...(supervisorLease ? { supervisorLease } : {}),
        ...(opts.ownedDir ? { ownedDir: String(opts.ownedDir) } : {}),
        ...(nwt !== undefined ? { noWorkerTimeoutSeconds: nwt } : {}),
        heartbeatTimeoutSeconds: hbt,
        allowedFailures,
      });
      await shipping?.close();
      process.exit(code);
    });
}
