import type { Env } from '../../shared/core/env.ts';

/**
 * What every shipped line says about where it came from, so a line found in
 * the stage's log group names its cluster, user, namespace, job, run,
 * component and pod, also after the namespace is gone.
 *
 * On EKS the pod gets these as environment variables (`POD_NAME` from the
 * downward API); the local backend and Lambda handlers set the same names.
 */
export interface LogContext {
  clusterId?: string;
  user?: string;
  namespace?: string;
  job?: string;
  runId?: string;
  component: string;
  pod?: string;
}

export const LOG_CONTEXT_ENV = {
  clusterId: 'RECC_CLUSTER_ID',
  user: 'RECC_OWNER',
  namespace: 'RECC_NAMESPACE',
  job: 'RECC_JOB',
  runId: 'RECC_RUN_ID',
  pod: 'POD_NAME',
} as const;

export function logContextFromEnv(env: Env, component: string): LogContext {
  const ctx: LogContext = { component };
  for (const [key, name] of Object.entries(LOG_CONTEXT_ENV) as Array<[keyof typeof LOG_CONTEXT_ENV, string]>) {
    const value = env[name]?.trim();
    if (value) ctx[key] = value;
  }
  // A job driver learns its run as RECC_JOB_RUN (the local and EKS job drivers set that name).
  if (!ctx.runId && env.RECC_JOB_RUN?.trim()) ctx.runId = env.RECC_JOB_RUN.trim();
  if (!ctx.pod && env.HOSTNAME?.trim()) ctx.pod = env.HOSTNAME.trim();
  return ctx;
}

/**
 * Replaces known secret values (the cluster token, keys) wherever they appear
 * in a line: the logger redacts secret-looking keys, this catches a secret
 * inside a message (an error quoting a URL or a header). Values shorter than
 * 8 characters are not registered (they would shred ordinary words).
 */
export class SecretScrubber {
  private readonly values = new Set<string>();

  add(value: string | undefined): void {
    const v = value?.trim();
    if (v && v.length >= 8) this.values.add(v);
  }

  get size(): number {
    return this.values.size;
  }

  scrub(text: string): string {
    let out = text;
    for (const v of this.values) if (out.includes(v)) out = out.split(v).join('[redacted]');
    return out;
  }
}

/**
 * One shipped message: a JSON object line gets the context fields it lacks
 * (its own win); any other line (a stack trace, a library's print) becomes
 * `{level, message, stream, …context}`.
 */
export function decorateLine(line: string, ctx: LogContext, stream: 'stdout' | 'stderr', now: number): string {
  const trimmed = line.trimEnd();
  if (trimmed.startsWith('{') && trimmed.endsWith('}')) {
    try {
      const parsed = JSON.parse(trimmed) as unknown;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return JSON.stringify({ ...ctx, ...(parsed as Record<string, unknown>) });
    } catch {
      // not JSON after all: wrapped below
    }
  }
  return JSON.stringify({ level: stream === 'stderr' ? 'error' : 'info', time: new Date(now).toISOString(), message: trimmed, stream, ...ctx });
}
