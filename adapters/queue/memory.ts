import type { ProvisionMessage, WorkQueue } from '../../shared/ports/work-queue.ts';

/**
 * In-memory WorkQueue for tests and single-process use: messages are kept in
 * order with their requested delay; `drain()` hands them over and empties the
 * queue. No redelivery semantics (use SQS/fauxqs for those).
 */
export interface QueuedMessage {
  message: ProvisionMessage;
  delaySeconds: number;
}

export class InMemoryWorkQueue implements WorkQueue {
  private readonly items: QueuedMessage[] = [];

  async send(message: ProvisionMessage, options: { delaySeconds?: number } = {}): Promise<void> {
    this.items.push({ message: { ...message }, delaySeconds: options.delaySeconds ?? 0 });
  }

  /** Messages sent so far (oldest first), without removing them. */
  get messages(): ProvisionMessage[] {
    return this.items.map((i) => ({ ...i.message }));
  }

  /** Remove and return everything queued, oldest first. */
  drain(): QueuedMessage[] {
    return this.items.splice(0, this.items.length);
  }
}
