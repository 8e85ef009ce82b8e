import type { Command } from 'commander';

interface UpFlags {
  port: string;
  stateDir: string;
  host: string;
  token?: string;
  json?: boolean;
  verbose?: boolean;
  teardownOnExit?: boolean;
}

/**
 * `recc up`: the embedded local stack (API, store, queue, provisioner, local
 * backend) in this process; clusters run as local processes. Stops on
 * SIGINT/SIGTERM; cluster processes keep running unless --teardown-on-exit,
 * and the next `recc up` on the same state dir picks them up again.
 */
export function registerUp(program: Command): void {
  program
    .command('up')
    .description('run the recc API, provisioner and local-process clusters on this machine')
    .option('--port <port>', 'API port (0 picks a free one)', '4600')
    .option('--state-dir <dir>', 'where records, secrets and logs live', '.recc')
    .option('--host <host>', 'address to bind; anything but loopback needs --token', '127.0.0.1')
    .option('--token <token>', 'require "Authorization: Bearer <token>" on every request (or RECC_UP_TOKEN)')
    .option('--teardown-on-exit', 'stop every cluster process when recc up stops')
    .option('--verbose', 'also write the stack log (JSON lines) to stderr')
    .option('--json', 'print the ready line as JSON')
    .action(async (flags: UpFlags) => {
      const { ValidationError } = await import('../../shared/core/errors.ts');
      const { getBoolean, getOptionalString } = await import('../../shared/core/env.ts');
      const env = process.env;
      const port = Number(flags.port);
      const token = flags.token ?? getOptionalString(env, 'RECC_UP_TOKEN');
      const problems: Array<{ path: string; message: string }> = [];
      if (!/^\d+$/.test(flags.port) || port > 65535) problems.push({ path: 'port', message: `must be a port number from 0 to 65535 (got ${JSON.stringify(flags.port)})` });
      const { isLoopbackHost } = await import('../../local/api-server.ts');
      if (!isLoopbackHost(flags.host) && !token) {
        problems.push({ path: 'host', message: `refusing to bind ${flags.host} without a token: pass --token (or RECC_UP_TOKEN), or bind 127.0.0.1` });
      }
      if (token !== undefined && token.length < 16) problems.push({ path: 'token', message: 'must be at least 16 characters' });
      if (problems.length) throw new ValidationError('invalid options for recc up', problems);

      env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
      const { mkdirSync, createWriteStream } = await import('node:fs');
      const { resolve, join } = await import('node:path');
      const { createLogger } = await import('../../shared/core/logger.ts');
      const { startLocalStack } = await import('../../local/stack.ts');
      const { defaultPeriodicJobs } = await import('../../local/periodic.ts');
      const { harvestConfigFromEnv } = await import('../../shared/harvest/config.ts');
      const { quotaPolicyFromEnv } = await import('../../shared/quota/config.ts');

      const stateDir = resolve(flags.stateDir);
      try {
        mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      } catch (err) {
        const why = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
        throw new ValidationError('invalid options for recc up', [{ path: 'stateDir', message: `cannot create ${stateDir} (${why}); choose a writable directory` }], { cause: err });
      }
      const logFile = join(stateDir, 'recc-up.log');
      const logStream = createWriteStream(logFile, { flags: 'a', mode: 0o600 });
      const logger = createLogger({
        level: 'info',
        service: 'recc-up',
        write: (line) => {
          logStream.write(`${line}\n`);
          if (flags.verbose) process.stderr.write(`${line}\n`);
        },
      });

      const stack = await startLocalStack({
        port,
        host: flags.host,
        stateDir,
        ...(token ? { token } : {}),
        logger,
        processEnv: env,
        testHooks: getBoolean(env, 'RECC_TEST_HOOKS', false),
        periodicJobs: await defaultPeriodicJobs(env),
        harvest: harvestConfigFromEnv(env),
        quotas: quotaPolicyFromEnv(env),
      });
      const ready = {
        event: 'recc.up.ready',
        url: stack.url,
        /** The web console; with a token, open it as `<console>?token=<token>` once (the token is never printed or logged). */
        console: `${stack.url}/console`,
        stateDir: stack.stateDir,
        user: stack.user,
        pid: process.pid,
        log: logFile,
        reconciled: {
          keptRunning: stack.reconcile.keptRunning,
          failed: stack.reconcile.failed.map((f) => f.id),
          requeued: stack.reconcile.requeued,
          orphansRemoved: stack.reconcile.orphansRemoved,
        },
      };
      logger.info('recc up ready', ready);
      if (flags.json) {
        // One line (a long-running process prints its ready event and keeps going).
        const { printJson } = await import('../output.ts');
        printJson(ready, { compact: true });
      } else {
        const r = stack.reconcile;
        const notes = [
          r.keptRunning.length ? `${r.keptRunning.length} running cluster(s) picked up` : '',
          r.failed.length ? `${r.failed.length} cluster(s) whose processes were gone marked FAILED` : '',
        ].filter(Boolean);
        process.stdout.write(
          `recc up: API on ${stack.url} for user ${stack.user} (state in ${stack.stateDir}; log ${logFile})` +
            `${notes.length ? `\n  ${notes.join('; ')}` : ''}\n  console: ${stack.url}/console${token ? '?token=<your token>' : ''}\n  try: RECC_API_URL=${stack.url} recc cluster create --workers 2 --wait\n`,
        );
      }

      await new Promise<void>((done) => {
        const stop = (signal: string) => {
          process.off('SIGINT', onInt);
          process.off('SIGTERM', onTerm);
          logger.info('recc up stopping', { signal });
          void stack
            .close({ teardownClusters: flags.teardownOnExit === true })
            .catch((err: unknown) => logger.error('recc up: error while stopping', { error: err }))
            .finally(() => {
              if (!flags.json) process.stdout.write('recc up: stopped\n');
              logStream.end(() => done());
            });
        };
        const onInt = () => stop('SIGINT');
        const onTerm = () => stop('SIGTERM');
        process.on('SIGINT', onInt);
        process.on('SIGTERM', onTerm);
      });
    });
}
