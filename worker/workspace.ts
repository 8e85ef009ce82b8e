import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isProcessAlive } from '../comm/process.ts';

/**
 * A worker's workspace: one directory of its own under the host's scratch
 * directory, holding its spilled results and shuffle spill files. It is
 * named after the worker's pid, so a later worker on the same host can tell a
 * dead worker's leftovers (kill -9, the memory-limit exit, a crashed node
 * process) from a live neighbour's and sweep them at start.
 */

/** Workspace names: `recc-worker-<pid>-<random>`. `recc-spill-` is the name older workers used. */
const WORKSPACE = /^recc-(?:worker|spill)-(\d+)-[a-z0-9]+$/;

/** The scratch directory: `RECC_SCRATCH_DIR` (read once, at worker start), else the OS temp dir. */
export function scratchDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.RECC_SCRATCH_DIR?.trim();
  return dir ? dir : tmpdir();
}

/** A fresh workspace path for this process (created on first use). */
export function newWorkspaceDir(scratchDir: string, pid = process.pid): string {
  return join(scratchDir, `recc-worker-${pid}-${Math.random().toString(36).slice(2, 8)}`);
}

/**
 * Remove the workspaces in `scratchDir` whose worker process is gone.
 * Returns the paths removed. A workspace whose pid is alive is kept even if
 * the pid was reused by another process: sweeping a live worker's files would
 * be far worse than keeping stale ones a little longer.
 */
export function sweepStaleWorkspaces(scratchDir: string, isAlive: (pid: number) => boolean = isProcessAlive): string[] {
  let names: string[];
  try {
    names = readdirSync(scratchDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = WORKSPACE.exec(name);
    if (!m || isAlive(Number(m[1]))) continue;
    const path = join(scratchDir, name);
    try {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {}
  }
  return removed;
}

/**
 * Remove `dir` when the process exits however it exits (process.exit on the
 * memory limit included; only SIGKILL escapes, and the next worker's sweep
 * handles that). Returns the function that drops the hook (after a clean close).
 */
export function removeOnExit(dir: string): () => void {
  const hook = () => {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {}
  };
  process.on('exit', hook);
  return () => process.off('exit', hook);
}
