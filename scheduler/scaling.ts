import type { Logger } from '../shared/core/logger.ts';

/**
 * Where an adaptive scheduler asks for workers: the control plane's scale
 * API (scheduler/api-scaler.ts), which clamps the count to the spec's
 * adaptive bounds and the owner's quota and stops the workers named in
 * `retire` first. Without one (a LocalCluster, a scheduler started by hand),
 * a retired worker is told to close and no worker is added.
 */
export interface WorkerScaler {
  scale(workers: number, retire: readonly string[]): Promise<void>;
}

/**
 * Requests to the scaler one at a time, latest count first: a request asked
 * while one is in flight replaces any other still waiting, except that the
 * names to retire accumulate (every retired worker must be stopped). A failed
 * request is logged and `onRetireFailed` gets its names (the shell closes
 * those workers itself), and the next `adapt` asks again.
 */
export class ScaleRequests {
  private inFlight: Promise<void> | undefined;
  private next: { workers: number; retire: string[] } | undefined;

  constructor(
    private readonly scaler: WorkerScaler,
    private readonly logger: Logger,
    private readonly onRetireFailed: (names: readonly string[]) => void,
  ) {}

  request(workers: number, retire: readonly string[] = []): void {
    this.next = { workers, retire: [...(this.next?.retire ?? []), ...retire] };
    if (!this.inFlight) this.inFlight = this.run();
  }

  /** Resolves once nothing is in flight or waiting (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  private async run(): Promise<void> {
    while (this.next) {
      const { workers, retire } = this.next;
      this.next = undefined;
      try {
        await this.scaler.scale(workers, retire);
        this.logger.info('asked the control plane for workers', { event: 'scheduler.scale-requested', workers, retire });
      } catch (err) {
        this.logger.warn('the control plane refused or missed a scale request', { event: 'scheduler.scale-failed', workers, retire, error: (err as Error).message });
        if (retire.length > 0) this.onRetireFailed(retire);
      }
    }
    this.inFlight = undefined;
  }
}
