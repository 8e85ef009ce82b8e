import { Option, type Command } from 'commander';
import { getOptionalString } from '../../shared/core/env.ts';
import { ValidationError, type ErrorDetail } from '../../shared/core/errors.ts';
import { supervisorLeaseFromEnv } from '../../comm/supervisor-lease.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The worker engine, as `load` gives it to the command. */
export type WorkerMain = typeof import('../../worker/main.ts');

/**
 * `recc worker <scheduler-address>`: a compute worker. The engine comes from
 * `load`: the full CLI imports it inside the action so other commands stay
 * fast; the process entry (worker/entry.ts) hands over its static import, so
 * its bundle holds the engine in the entry file rather than in chunks
 * (comm/launch.ts: each chunk costs a start ~1 ms).
 */
export function registerWorker(program: Command, load: () => Promise<WorkerMain>): void {
  program
    .command('worker')
    .description('run a compute worker connected to a scheduler (tcp://host:port or tls://host:port)')
    .argument('<scheduler-address>', 'tcp://host:port or tls://host:port')
    .option('--token-file <path>', 'file holding the scheduler token (or set RECC_SCHEDULER_TOKEN)')
    .option('--nthreads <n>', 'task threads, or "auto": as many as the CPU quota (cgroup) or the CPUs allow', '1')
    .option('--memory-limit <gib>', 'memory limit in GiB, capped by a cgroup limit (spill at 60-70 %, pause at 80 %, the worker ends above 95 % for its supervisor to restart)')
    .option('--resource <name=n>', 'advertise a resource, e.g. GPU=1 (repeatable)', collect, [] as string[])
    .option('--name <name>', 'worker name (default: hostname-pid)')
    .option('--tls-ca <path>', 'PEM CA to verify a tls:// scheduler')
    .option('--host <host>', 'interface for the data port peers fetch results from (default: 127.0.0.1 for a loopback scheduler, else 0.0.0.0)')
    .option('--contact-host <host>', 'address other processes use to reach this worker (default: --host)')
    .option('--connect-timeout <seconds>', 'keep retrying the scheduler this long', '120')
    .option('--reconnect-timeout <seconds>', 'after losing the scheduler, keep reconnecting this long, then re-register held results (0: exit at once)', '120')
    .addOption(new Option('--memory-target <fraction>', 'spill above this fraction of the limit').hideHelp())
    .addOption(new Option('--memory-spill <fraction>', 'spill when process memory is above this fraction').hideHelp())
    .addOption(new Option('--memory-pause <fraction>', 'pause new tasks above this fraction').hideHelp())
    .addOption(new Option('--memory-terminate <fraction>', 'end the worker (its supervisor restarts it) above this fraction').hideHelp())
    .option('--ready-file <path>', 'write this file once registered with the scheduler, remove it on stop (a readiness probe)')
    .addOption(new Option('--watch-parent', 'exit when the parent process goes away').hideHelp())
    .action(async (address: string, opts: Record<string, string | string[] | boolean | undefined>) => {
      const problems: ErrorDetail[] = [];
      if (!/^(tcp|tls):\/\/(\[[^\]]+\]|[^:/]+):\d{1,5}$/.test(address)) {
        problems.push({ path: 'scheduler-address', message: `expected tcp://host:port or tls://host:port, got "${address}"` });
      }
      const nthreads = opts.nthreads === 'auto' ? (await import('../../worker/cpu.ts')).fittingThreads() : Number(opts.nthreads);
      if (!Number.isInteger(nthreads) || nthreads < 1 || nthreads > 1024) problems.push({ path: 'nthreads', message: 'expected an integer from 1 to 1024, or "auto"' });
      const mem = opts.memoryLimit === undefined ? undefined : Number(opts.memoryLimit);
      if (mem !== undefined && !(mem > 0)) problems.push({ path: 'memory-limit', message: 'expected a positive number of GiB' });
      const resources: Record<string, number> = {};
      for (const r of (opts.resource as string[]) ?? []) {
        const m = /^([A-Za-z][\w.-]*)=(\d+(?:\.\d+)?)$/.exec(r);
        if (!m) problems.push({ path: 'resource', message: `expected NAME=N, got "${r}"` });
        else resources[m[1] as string] = Number(m[2]);
      }
      // The token file is the primary path; the environment variable is the fallback.
      const envToken = opts.tokenFile ? undefined : getOptionalString(process.env, 'RECC_SCHEDULER_TOKEN');
      if (!opts.tokenFile && !envToken) problems.push({ path: 'token-file', message: 'is required (or set RECC_SCHEDULER_TOKEN)' });
      const fractions: Record<string, number> = {};
      for (const k of ['memoryTarget', 'memorySpill', 'memoryPause', 'memoryTerminate'] as const) {
        if (opts[k] === undefined) continue;
        const f = Number(opts[k]);
        if (!(f > 0 && f <= 1)) problems.push({ path: k, message: 'expected a fraction in (0, 1]' });
        fractions[k] = f;
      }
      const connectTimeout = Number(opts.connectTimeout);
      if (!(connectTimeout > 0)) problems.push({ path: 'connect-timeout', message: 'expected a positive number of seconds' });
      const reconnectTimeout = Number(opts.reconnectTimeout);
      if (!(reconnectTimeout >= 0)) problems.push({ path: 'reconnect-timeout', message: 'expected a number of seconds, 0 or more' });
      const supervisorLease = supervisorLeaseFromEnv(process.env, problems);
      if (problems.length > 0) throw new ValidationError('invalid worker options', problems);
      // Issue 21: with RECC_LOG_GROUP set, this process's lines also go to CloudWatch Logs, the token scrubbed (docs/logs.md).
      const shipping = process.env.RECC_LOG_GROUP
        ? (await import('../../adapters/logs/process.ts')).startLogShipping('worker', process.env, { secretFiles: opts.tokenFile ? [String(opts.tokenFile)] : [] })
        : undefined;
      const { runWorkerProcess } = await load();
      const code = await runWorkerProcess({
        schedulerAddress: address,
        ...(opts.tokenFile ? { tokenFile: String(opts.tokenFile) } : { token: String(envToken) }),
        nthreads,
        ...(mem !== undefined ? { memoryLimitGiB: mem } : {}),
        resources,
        ...(opts.name ? { name: String(opts.name) } : {}),
        ...(opts.tlsCa ? { tlsCa: String(opts.tlsCa) } : {}),
        ...(opts.host ? { host: String(opts.host) } : {}),
        ...(opts.contactHost ? { contactHost: String(opts.contactHost) } : {}),
        watchParent: Boolean(opts.watchParent),
        ...(supervisorLease ? { supervisorLease } : {}),
        ...(opts.readyFile ? { readyFile: String(opts.readyFile) } : {}),
        connectTimeoutSeconds: connectTimeout,
        reconnectTimeoutSeconds: reconnectTimeout,
        ...fractions,
      });
      await shipping?.close();
      process.exit(code);
    });
}
