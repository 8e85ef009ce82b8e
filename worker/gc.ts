import { createRequire } from 'node:module';

/**
 * A full garbage collection of the calling isolate (the worker's main thread
 * or a task thread), or undefined if the runtime refuses to expose one.
 *
 * Why the flag is switched off again at once: V8 accepts its startup snapshot
 * and Node's built-in code cache only while its flag hash matches the one they
 * were built with. Left set, `--expose-gc` made every new isolate (each task
 * thread) and every built-in module loaded afterwards compile from scratch:
 * measured +35 ms CPU per task thread and +16 % cluster start (issue 20).
 * The `gc` function taken from a context created while the flag is on stays
 * valid after the flag is off.
 */
export function acquireGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  // Required on use, not imported: a task thread takes gc only when it first needs one, and loading
  // node:v8 (with its heap and profiler bindings) and node:vm costs every thread's start.
  const require = createRequire(import.meta.url);
  const { setFlagsFromString } = require('node:v8') as typeof import('node:v8');
  const { runInNewContext } = require('node:vm') as typeof import('node:vm');
  try {
    setFlagsFromString('--expose-gc');
    try {
      return runInNewContext('gc') as () => void;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  } catch {
    return undefined;
  }
}
