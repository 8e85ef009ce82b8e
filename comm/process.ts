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
