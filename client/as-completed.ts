import type { Future } from './future.ts';

/**
 * Iterate futures in the order they finish (failed and cancelled ones too;
 * call `result()` to get the value or the error).
 *
 * Not an async generator: `yield` in one awaits the yielded value, and a
 * Future is awaitable, so a generator would hand out values (and throw
 * failures) instead of the futures themselves.
 */
export function asCompleted<T>(futures: Iterable<Future<T>>): AsyncIterableIterator<CompletedFuture<T>> {
  const list = [...futures];
  const ready: Array<Future<T>> = [];
  let wakers: Array<() => void> = [];
  for (const f of list) {
    const arrived = () => {
      ready.push(f);
      const woken = wakers;
      wakers = [];
      for (const w of woken) w();
    };
    f.wait().then(arrived, arrived);
  }
  // Each next() claims one future still to come, so concurrent calls never wait for more than arrive.
  let claimed = 0;
  const iterator: AsyncIterableIterator<CompletedFuture<T>> = {
    async next(): Promise<IteratorResult<CompletedFuture<T>>> {
      if (claimed >= list.length) return { done: true, value: undefined };
      claimed++;
      while (ready.length === 0) await new Promise<void>((r) => wakers.push(r));
      // The result object is not a thenable, so the future inside it is not unwrapped.
      return { done: false, value: ready.shift() as Future<T> };
    },
    async return(): Promise<IteratorResult<CompletedFuture<T>>> {
      claimed = list.length;
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/**
 * What `asCompleted` yields: at run time the Future itself (`instanceof
 * Future`). Typed without `then` because TypeScript types a `for await`
 * variable as the awaited element, which for a Future would be its value.
 */
export type CompletedFuture<T> = Omit<Future<T>, 'then'>;

export interface ProgressOptions {
  /**
   * Where to report (default stderr). On a terminal: a bar redrawn in place,
   * with elapsed time and ETA. Elsewhere (CI, cron, a log file): one plain
   * line per `intervalMs` and a last line at the end. `force` draws the bar
   * on a non-terminal too.
   */
  stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean };
  force?: boolean;
  /** Called on every completion with (done, total). */
  onUpdate?: (done: number, total: number) => void;
  /** Period of the plain lines (and of the bar's redraw on a terminal, at most 1 s). @default 10000 */
  intervalMs?: number;
  /** Milliseconds clock, injectable for tests. @default Date.now */
  now?: () => number;
  /** Runs `fn` every `ms` until the returned function is called. @default an unref'd setInterval */
  every?: (ms: number, fn: () => void) => () => void;
}

const realEvery = (ms: number, fn: () => void): (() => void) => {
  const timer = setInterval(fn, ms);
  timer.unref();
  return () => clearInterval(timer);
};

/** `42s`, `4m30s`, `2h05m`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Wait for all futures, showing progress: a bar on a terminal, plain
 * periodic lines elsewhere (CI and scheduled jobs have no TTY). Resolves with
 * the number done and the number that failed.
 */
export async function progress(futures: Iterable<Future>, options: ProgressOptions = {}): Promise<{ done: number; failed: number }> {
  const list = [...futures];
  const total = list.length;
  const stream = options.stream ?? process.stderr;
  const bar = Boolean(options.force || stream.isTTY);
  const now = options.now ?? Date.now;
  const started = now();
  const intervalMs = options.intervalMs ?? 10_000;
  let done = 0;
  let failed = 0;

  const figures = () => {
    const elapsedMs = now() - started;
    const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
    const eta = done === total ? 'ETA 0s' : rate > 0 ? `ETA ${formatDuration(((total - done) / rate) * 1000)}` : 'ETA unknown';
    return { elapsed: formatDuration(elapsedMs), rate, eta };
  };
  const percent = () => Math.round((done / Math.max(1, total)) * 100);

  const drawBar = (final: boolean) => {
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const { elapsed, eta } = figures();
    stream.write(
      `\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${String(percent()).padStart(3)}% ${done}/${total}${failed ? ` (${failed} failed)` : ''} elapsed ${elapsed}${final ? '' : ` ${eta}`}`,
    );
  };
  const line = (final: boolean) => {
    const head = `progress: ${done}/${total} (${percent()}%)${failed ? `, ${failed} failed` : ''}`;
    if (now() === started && !final) return `${head}\n`;
    const { elapsed, rate, eta } = figures();
    const speed = rate > 0 ? `, ${rate.toFixed(2)} tasks/s` : '';
    return final ? `${head}${speed}, done in ${elapsed}\n` : `${head}${speed}, elapsed ${elapsed}, ${eta}\n`;
  };

  if (bar) drawBar(false);
  else stream.write(line(false));
  options.onUpdate?.(done, total);
  // A terminal's elapsed time moves every second; plain lines come once a period.
  const stop = (options.every ?? realEvery)(bar ? Math.min(1_000, intervalMs) : intervalMs, () => {
    if (bar) drawBar(false);
    else stream.write(line(false));
  });
  try {
    for await (const f of asCompleted(list)) {
      done++;
      if (f.status !== 'finished') failed++;
      options.onUpdate?.(done, total);
      if (bar) drawBar(false);
    }
  } finally {
    stop();
  }
  if (bar) {
    drawBar(true);
    stream.write('\n');
  } else {
    stream.write(line(true));
  }
  return { done, failed };
}
