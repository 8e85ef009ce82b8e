import { closeSync, openSync, statSync, utimesSync } from 'node:fs';
import type { ErrorDetail } from '../shared/core/errors.ts';

/**
 * A supervisor lease: how detached cluster processes notice that nobody
 * supervises them any more. The local backend starts scheduler and worker
 * processes in their own process group, so that a cluster survives a restart
 * of `recc up`; but when the process holding the backend is killed for good
 * (kill -9, a closed laptop lid, `timeout -s KILL npm start`), nothing would
 * ever stop them. The holder touches a file every `staleMs / 4`; each cluster
 * process checks its mtime and stops gracefully once it is older than
 * `staleMs` (or the file is gone: its state directory was removed).
 * Dask's equivalent is a worker's `--death-timeout`, which only covers a lost
 * scheduler; this also covers a scheduler whose supervisor is gone.
 */
export const SUPERVISOR_LEASE_ENV = 'RECC_SUPERVISOR_LEASE';
export const SUPERVISOR_STALE_ENV = 'RECC_SUPERVISOR_STALE_SECONDS';
/** Long enough for `recc up` to be restarted and adopt its clusters. */
export const DEFAULT_SUPERVISOR_STALE_SECONDS = 600;

export interface SupervisorLease {
  path: string;
  staleMs: number;
}

/** The lease a process was started under, from its environment, or undefined (not supervised by a lease). */
export function supervisorLeaseFromEnv(env: Record<string, string | undefined>, problems: ErrorDetail[]): SupervisorLease | undefined {
  const path = env[SUPERVISOR_LEASE_ENV]?.trim();
  if (!path) return undefined;
  const raw = env[SUPERVISOR_STALE_ENV]?.trim();
  const seconds = raw ? Number(raw) : DEFAULT_SUPERVISOR_STALE_SECONDS;
  if (!(seconds > 0) || !Number.isFinite(seconds)) {
    problems.push({ path: SUPERVISOR_STALE_ENV, message: `expected a positive number of seconds, got "${raw}"` });
    return undefined;
  }
  return { path, staleMs: seconds * 1000 };
}

/** Calls `onGone` once when the lease is older than its stale time or removed; returns a stop function. */
export function watchSupervisorLease(lease: SupervisorLease, onGone: (reason: string) => void, now: () => number = Date.now): () => void {
  const check = () => {
    let age: number;
    try {
      age = now() - statSync(lease.path).mtimeMs;
    } catch {
      age = Number.POSITIVE_INFINITY;
    }
    if (age <= lease.staleMs) return;
    clearInterval(timer);
    onGone(Number.isFinite(age) ? `supervisor lease not renewed for ${Math.round(age / 1000)} s (${lease.path})` : `supervisor lease ${lease.path} is gone`);
  };
  const timer = setInterval(check, Math.max(100, Math.min(15_000, lease.staleMs / 4)));
  timer.unref();
  return () => clearInterval(timer);
}

/** The holder's side: create the lease file and keep its mtime fresh until `release()` (which leaves it to go stale). */
export function holdSupervisorLease(lease: SupervisorLease): { release(): void } {
  const touch = () => {
    try {
      const t = new Date();
      utimesSync(lease.path, t, t);
    } catch {
      closeSync(openSync(lease.path, 'a', 0o600));
    }
  };
  touch();
  const timer = setInterval(touch, Math.max(50, lease.staleMs / 4));
  timer.unref();
  return { release: () => clearInterval(timer) };
}
