import type { Logger } from '../shared/core/logger.ts';
import { sleep } from '../shared/core/retry.ts';

/** Pause after a failed receive before asking the queue again. */
const RECEIVE_RETRY_MS = 500;
import type { Provisioner } from '../control/provisioner.ts';
import type { SqsWorkQueue, ReceivedProvisionMessage } from '../adapters/queue/sqs.ts';

/**
 * The local stand-in for the SQS → Lambda trigger: long-polls the
 * provisioning queue and hands each message to the provisioner. Messages of
 * one cluster are handled one at a time; different clusters in parallel. A
 * message is deleted after its step succeeded; a failed step leaves it to
 * come back after the visibility timeout (at-least-once, like Lambda), and a
 * message that keeps failing is dropped after `maxReceives` (logged).
 */
export interface PollerOptions {
  queue: SqsWorkQueue;
  provisioner: Provisioner;
  logger: Logger;
  /** Seconds a received message stays hidden; it comes back after this on failure. @default 15 */
  visibilityTimeoutSeconds?: number;
  /** @default 20 */
  maxReceives?: number;
}

export class ProvisionerPoller {
  private running = false;
  private loop: Promise<void> | undefined;
  /** Renewed on each start: a stopped poller can start again without its waits ending at once. */
  private abort = new AbortController();
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly options: PollerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.abort.signal.aborted) this.abort = new AbortController();
    this.loop = this.run();
  }

  /** Stop polling and wait for in-flight steps. Safe to call twice. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    await this.loop;
    await Promise.allSettled([...this.chains.values()]);
  }

  private async run(): Promise<void> {
    const { queue, logger } = this.options;
    while (this.running) {
      let batch: ReceivedProvisionMessage[];
      try {
        batch = await queue.receive({
          maxMessages: 10,
          waitSeconds: 1,
          visibilityTimeoutSeconds: this.options.visibilityTimeoutSeconds ?? 15,
          abortSignal: this.abort.signal,
        });
      } catch (err) {
        if (!this.running) return;
        logger.warn('provisioner poller: receive failed; retrying', { error: err });
        // Aborted by stop(): the loop then ends instead of waiting out the pause.
        await sleep(RECEIVE_RETRY_MS, { signal: this.abort.signal }).catch(() => undefined);
        continue;
      }
      for (const item of batch) this.enqueue(item);
    }
  }

  private enqueue(item: ReceivedProvisionMessage): void {
    const id = item.message.clusterId;
    const prev = this.chains.get(id) ?? Promise.resolve();
    const next = prev.then(() => this.handle(item));
    this.chains.set(id, next);
    void next.then(() => {
      if (this.chains.get(id) === next) this.chains.delete(id);
    });
  }

  private async handle(item: ReceivedProvisionMessage): Promise<void> {
    const { queue, provisioner, logger } = this.options;
    try {
      await provisioner.handle(item.message);
      await queue.ack(item.receiptHandle);
    } catch (err) {
      const max = this.options.maxReceives ?? 20;
      if (item.receiveCount >= max) {
        logger.error('provisioner: giving up on a message that keeps failing', { clusterId: item.message.clusterId, receiveCount: item.receiveCount, error: err });
        await queue.ack(item.receiptHandle).catch(() => undefined);
      } else {
        logger.warn('provisioner step failed; the message will be retried', { clusterId: item.message.clusterId, receiveCount: item.receiveCount, error: err });
      }
    }
  }
}
