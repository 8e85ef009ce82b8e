import type { Future } from './future.ts';

/**
 * Iterate futures in the order they finish (failed and cancelled ones too;
 * call `result()` to get the value or the error).
 */
export async function* asCompleted<T>(futures: Iterable<Future<T>>): AsyncGenerator<Future<T>> {
  const list = [...futures];
  const ready: Array<Future<T>> = [];
  let wake: (() => void) | undefined;
  for (const f of list) {
    f.wait().then(
      () => {
        ready.push(f);
        wake?.();
      },
      () => {
        ready.push(f);
        wake?.();
      },
    );
  }
  let yielded = 0;
  while (yielded < list.length) {
    if (ready.length === 0) await new Promise<void>((r) => (wake = r));
    wake = undefined;
    while (ready.length > 0) {
      yielded++;
      yield ready.shift() as Future<T>;
    }
  }
}

export interface ProgressOptions {
  /** Where to draw the bar (default stderr). Drawn only on a TTY unless `force`. */
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  force?: boolean;
  /** Called on every completion with (done, total). */
  onUpdate?: (done: number, total: number) => void;
}

/** Wait for all futures, drawing a progress bar on a TTY. Resolves with the number that failed. */
export async function progress(futures: Iterable<Future>, options: ProgressOptions = {}): Promise<{ done: number; failed: number }> {
  const list = [...futures];
  const stream = options.stream ?? process.stderr;
  const draw = Boolean(options.force || stream.isTTY);
  let done = 0;
  let failed = 0;
  const render = () => {
    options.onUpdate?.(done, list.length);
    if (!draw) return;
    const width = 30;
    const filled = list.length === 0 ? width : Math.round((done / list.length) * width);
    stream.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${String(Math.round((done / Math.max(1, list.length)) * 100)).padStart(3)}% ${done}/${list.length}${failed ? ` (${failed} failed)` : ''}`);
  };
  render();
  for await (const f of asCompleted(list)) {
    done++;
    if (f.status !== 'finished') failed++;
    render();
  }
  if (draw) stream.write('\n');
  return { done, failed };
}
