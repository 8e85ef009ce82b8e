import type { SqsRoute } from '../comm/sqs-envelope/route.ts';

/**
 * Anything a Client can connect to: a LocalCluster, a ReccCluster from the
 * API, or a cluster from `clusterFromEnv()`. The same script runs against any
 * of them.
 */
export interface ClusterLike {
  /** `tcp://host:port` or `tls://host:port`. */
  readonly schedulerAddress: string;
  readonly token: string;
  /** PEM CA to verify the scheduler's certificate when the address is `tls://`. */
  readonly caPem?: string;
  /** The cluster's SQS route (request queue, payload bucket), for clients outside its network. */
  readonly sqsRoute?: SqsRoute | undefined;
  /** The scheduler's live dashboard, when it serves one. */
  readonly dashboardUrl?: string | undefined;
  /** Stops a LocalCluster; deletes a ReccCluster this handle created, detaches from one it attached to. Safe to call twice. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
