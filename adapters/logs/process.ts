import { readFileSync } from 'node:fs';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { Env } from '../../shared/core/env.ts';
import { decorateLine, logContextFromEnv, SecretScrubber, type LogContext } from './context.ts';
import { logStreamName, type LogComponent } from './reader.ts';
import { CloudWatchLogShipper } from './shipper.ts';

/**
 * Log shipping for a scheduler, worker or job-driver process: when
 * `RECC_LOG_GROUP` is set, every line the process writes to stdout or stderr
 * (the JSON logger's lines, and anything else) is also shipped to
 * `<RECC_LOG_GROUP>` stream `<RECC_CLUSTER_ID>/<component>`, decorated with
 * the log context. Registered secrets are scrubbed from both the shipped and
 * the printed line. Nothing here blocks a write; `close()` flushes (call it
 * before `process.exit`, after SIGTERM's graceful stop).
 *
 * `RECC_LOGS_ENDPOINT` points the client elsewhere (tests: a local fake).
 */
export interface ProcessLogShipping {
  readonly context: LogContext;
  readonly shipper: CloudWatchLogShipper;
  addSecret(value: string | undefined): void;
  close(deadlineMs?: number): Promise<void>;
}

type Write = typeof process.stdout.write;

/** Environment variables that hold the cluster token: their values are scrubbed from every line. */
export const SECRET_ENV = ['RECC_SCHEDULER_TOKEN', 'RECC_TOKEN', 'RECC_CLUSTER_TOKEN'] as const;

export function startLogShipping(
  component: LogComponent,
  env: Env = process.env,
  options: { client?: CloudWatchLogsClient; secretFiles?: string[] } = {},
): ProcessLogShipping | undefined {
  const logGroupName = env.RECC_LOG_GROUP?.trim();
  const clusterId = env.RECC_CLUSTER_ID?.trim();
  if (!logGroupName || !clusterId) return undefined;
  const context = logContextFromEnv(env, component);
  const endpoint = env.RECC_LOGS_ENDPOINT?.trim();
  const client = options.client ?? new CloudWatchLogsClient({ region: env.AWS_REGION?.trim() || 'us-east-1', ...(endpoint ? { endpoint } : {}), maxAttempts: 1 });
  const scrubber = new SecretScrubber();
  for (const name of SECRET_ENV) scrubber.add(env[name]);
  for (const file of options.secretFiles ?? []) {
    try {
      scrubber.add(readFileSync(file, 'utf8'));
    } catch {
      // the process itself reports an unreadable token file
    }
  }
  const originalStderr = process.stderr.write.bind(process.stderr) as Write;
  const shipper = new CloudWatchLogShipper({
    client,
    logGroupName,
    logStreamName: logStreamName(clusterId, component),
    // The shipper's own trouble goes to the container log only (shipping it could loop).
    onError: (message) => {
      originalStderr(`${JSON.stringify({ level: 'warn', time: new Date().toISOString(), message, ...context })}\n`);
    },
  });

  const restore: Array<() => void> = [];
  for (const stream of ['stdout', 'stderr'] as const) {
    const target = process[stream];
    const original = target.write.bind(target) as Write;
    let partial = '';
    const tee = ((chunk: unknown, encoding?: unknown, callback?: unknown): boolean => {
      const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : String(chunk);
      const clean = scrubber.size ? scrubber.scrub(text) : text;
      const lines = (partial + clean).split('\n');
      partial = lines.pop() ?? '';
      if (partial.length > 256 * 1024) {
        lines.push(partial);
        partial = '';
      }
      const now = Date.now();
      for (const line of lines) if (line.trim()) shipper.write(decorateLine(line, context, stream, now), now);
      return (original as (c: unknown, e?: unknown, cb?: unknown) => boolean)(clean, encoding, callback);
    }) as Write;
    target.write = tee;
    restore.push(() => {
      if (partial.trim()) shipper.write(decorateLine(partial, context, stream, Date.now()));
      partial = '';
      target.write = original;
    });
  }

  let closing: Promise<void> | undefined;
  return {
    context,
    shipper,
    addSecret: (value) => scrubber.add(value),
    close(deadlineMs = 5_000) {
      closing ??= (async () => {
        for (const undo of restore) undo();
        await shipper.close(deadlineMs);
      })();
      return closing;
    },
  };
}
