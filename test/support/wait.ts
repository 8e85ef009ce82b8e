/**
 * Wait on a condition, never on a fixed sleep. Deadlines are generous because
 * CI is a loaded 2-core machine; a condition that is met returns at once.
 */
export async function waitFor<T>(
  condition: () => T | undefined | false | null | Promise<T | undefined | false | null>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false && value !== null) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const suffix = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'condition'}${suffix}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** True while the process exists and has not exited (zombies count as exited): the engine's one check. */
export { isProcessAlive as isAlive } from '../../comm/process.ts';

/**
 * Sample `read` every `intervalMs` until stopped, keeping the largest value
 * (a cluster's worker count while a job runs). `stop()` waits for the
 * sampling in flight and returns the peak.
 */
export function watchPeak(read: () => Promise<number>, intervalMs = 200): { stop(): Promise<number> } {
  let peak = Number.NEGATIVE_INFINITY;
  let watching = true;
  const loop = (async () => {
    while (watching) {
      peak = Math.max(peak, await read());
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    stop: async () => {
      watching = false;
      await loop;
      return peak;
    },
  };
}
