import { readFileSync } from 'node:fs';

/**
 * True while the process exists and has not exited. The one process-alive
 * check in recc (supervisors, the local backend, the state-dir lock, tests).
 * - `kill(pid, 0)` probes without signalling; EPERM means it exists under another user.
 * - A zombie (exited, not yet reaped: in a container whose PID 1 does not reap
 *   orphans this lasts forever) is not alive, though `kill(pid, 0)` finds it.
 * - Not a positive integer → false: `kill(0, 0)` and `kill(-1, 0)` would probe
 *   our own process group or every process, and report "alive".
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = procState(pid);
  return state !== 'Z' && state !== 'gone';
}

/**
 * Linux: the state letter in /proc/<pid>/stat, or 'gone' when the entry
 * vanished (it exited after the probe). Elsewhere (no /proc): undefined.
 */
function procState(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    return process.platform === 'linux' && (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : undefined;
  }
  // The command name is in parentheses and may itself hold spaces or parentheses: the state follows the last ')'.
  const close = stat.lastIndexOf(')');
  return stat.slice(close + 2, close + 3);
}

/**
 * Parent watching for processes started by a LocalCluster: when the parent
 * dies (even by SIGKILL) the child notices — its stdin pipe closes or its
 * parent pid changes — and shuts down, so nothing is left behind.
 */
export function watchParent(onGone: (reason: string) => void, pollMs = 250): () => void {
  const initial = process.ppid;
  let fired = false;
  const fire = (reason: string) => {
    if (fired) return;
    fired = true;
    clearInterval(timer);
    onGone(reason);
  };
  const timer = setInterval(() => {
    if (process.ppid !== initial) fire('parent process exited');
  }, pollMs);
  timer.unref();
  if (!process.stdin.isTTY) {
    process.stdin.on('end', () => fire('parent closed our stdin'));
    process.stdin.on('error', () => fire('parent closed our stdin'));
    process.stdin.resume();
  }
  return () => {
    fired = true;
    clearInterval(timer);
    process.stdin.pause();
  };
}

/** Run `stop` once on SIGTERM or SIGINT. */
export function onTerminate(stop: (signal: string) => void): void {
  let done = false;
  const handler = (signal: string) => {
    if (done) return;
    done = true;
    stop(signal);
  };
  process.once('SIGTERM', () => handler('SIGTERM'));
  process.once('SIGINT', () => handler('SIGINT'));
}
