/**
 * Run `fn` as a microtask, like `queueMicrotask`, for the engine's per-message
 * paths (a Comm's batch flush, the scheduler's and the worker's event pumps).
 *
 * Node's `queueMicrotask` wraps every callback in an `AsyncResource` (ids,
 * init/destroy hooks, an async scope around the call): about fifteen calls
 * into Node's internals per use, all of them running in V8's interpreter on a
 * fresh cluster, where a round trip used four (bench/FINDINGS.md §2k). A
 * reaction on a settled promise is a V8 builtin and lands in the same
 * microtask queue, in the same order.
 *
 * A throw from `fn` is an unhandled rejection instead of an uncaught
 * exception; Node (whose default mode is `throw`) raises it as one, so a bug
 * still ends the process loudly.
 */
const settled = Promise.resolve();

export function soon(fn: () => void): void {
  void settled.then(fn);
}
