import type { ReapReason } from '../harvest/types.ts';
import type { StartTimeline } from '../lifecycle/start-timeline.ts';
import type { ClusterConnection, ClusterRecord } from '../lifecycle/types.ts';
import type { ClusterSpec, Plan } from '../spec/types.ts';

/**
 * What the cluster API returns: the one home of its view types. The control
 * plane (`control/clusters.ts`) builds them and the published client
 * (`client/api-client.ts`, `client/recc-cluster.ts`) and the CLI read them;
 * both import this module downward, so the client never depends on a use case.
 */

/** A cluster as the API shows it to one caller: only the owner gets `connection.token`. */
export type ClusterView = Omit<ClusterRecord, 'connection'> & {
  connection?: Omit<ClusterConnection, 'token'> & { token?: string };
  /**
   * When the cluster will be reaped if it stays idle from now on (ISO time,
   * computed with the server's harvest config); null when it is not RUNNING.
   * Absent from servers older than this field.
   */
  reapAt?: string | null;
  /** Which rule reaps it at `reapAt`; null when `reapAt` is null. */
  reapReason?: ReapReason | null;
  /** Where the start time went, by stage (`shared/lifecycle/start-timeline.ts`), once RUNNING. */
  startTimeline?: StartTimeline;
};

/** `POST /clusters` → 202. */
export interface CreateClusterResult {
  cluster: ClusterView;
  plan: Plan;
  estimate: { costPerHour: number; costPerWorkerHour: number; priceSource: string };
  /** False when the clientToken matched an existing cluster. */
  created: boolean;
}

/** `POST /estimates` → 200. */
export interface EstimateResult {
  spec: ClusterSpec;
  plan: Plan;
}
