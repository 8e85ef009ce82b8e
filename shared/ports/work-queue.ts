/**
 * The provisioning queue port: the control plane enqueues `{clusterId}` and the
 * provisioner advances that cluster one step per message. Adapters: SQS
 * (AWS and fauxqs locally).
 */
export interface ProvisionMessage {
  clusterId: string;
  /** Why this message was sent, for logs: `created`, `delete-requested`, `scale`, `requeue`. */
  cause: string;
}

export interface WorkQueue {
  send(message: ProvisionMessage, options?: { delaySeconds?: number }): Promise<void>;
}
