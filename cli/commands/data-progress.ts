import { formatDuration } from '../../client/as-completed.ts';

/**
 * Progress of a copy on stderr, as `progress()` shows tasks: on a terminal a
 * bar redrawn in place; elsewhere (CI, cron, a log file) one plain line per
 * interval and a last line at the end.
 *
 *     copy LOCAL → S3: 3/10 objects, 12.0 MiB/40.0 MiB (30%), 4.1 MiB/s, elapsed 3s, ETA 7s
 *     copy LOCAL → S3: 10/10 objects, 40.0 MiB, done in 9s (4.4 MiB/s)
 */
export interface TransferProgressOptions {
  stream?: { write(s: string): unknown; isTTY?: boolean };
  label: string;
  totalObjects: number;
  totalBytes: number;
  /** @default 10000 */
  intervalMs?: number;
  now?: () => number;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

export class TransferProgress {
  private objects = 0;
  private bytes = 0;
  private readonly started: number;
  private readonly stream: NonNullable<TransferProgressOptions['stream']>;
  private readonly tty: boolean;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: TransferProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY);
    this.now = options.now ?? Date.now;
    this.started = this.now();
  }

  start(): void {
    this.draw(false);
    const every = this.tty ? Math.min(1_000, this.options.intervalMs ?? 10_000) : (this.options.intervalMs ?? 10_000);
    this.timer = setInterval(() => this.draw(false), every);
    this.timer.unref();
  }

  addBytes(n: number): void {
    this.bytes += n;
  }

  objectDone(): void {
    this.objects++;
    if (this.tty) this.draw(false);
  }

  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.draw(true);
  }

  private draw(final: boolean): void {
    const { label, totalObjects, totalBytes } = this.options;
    const elapsedMs = this.now() - this.started;
    const rate = elapsedMs > 0 ? this.bytes / (elapsedMs / 1000) : 0;
    const pct = totalBytes > 0 ? Math.min(100, Math.round((this.bytes / totalBytes) * 100)) : totalObjects > 0 ? Math.round((this.objects / totalObjects) * 100) : 100;
    const speed = rate > 0 ? `${formatBytes(rate)}/s` : '';
    if (final) {
      const line = `${label}: ${this.objects}/${totalObjects} objects, ${formatBytes(this.bytes)}, done in ${formatDuration(elapsedMs)}${speed ? ` (${speed})` : ''}`;
      this.stream.write(this.tty ? `\r${line}\x1b[K\n` : `${line}\n`);
      return;
    }
    const eta = this.bytes >= totalBytes ? 'ETA 0s' : rate > 0 ? `ETA ${formatDuration(((totalBytes - this.bytes) / rate) * 1000)}` : 'ETA unknown';
    const figures = `${this.objects}/${totalObjects} objects, ${formatBytes(this.bytes)}/${formatBytes(totalBytes)} (${pct}%)`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round((pct / 100) * width);
      this.stream.write(`\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${figures}${speed ? ` ${speed}` : ''} ${eta}\x1b[K`);
    } else {
      this.stream.write(`${label}: ${figures}${speed ? `, ${speed}` : ''}, elapsed ${formatDuration(elapsedMs)}, ${eta}\n`);
    }
  }
}
