import { NotFoundError, ReccError, ValidationError } from '../shared/core/errors.ts';

/** `--wait` ended with the cluster in another status than the one waited for. */
export class ClusterNotRunningError extends ReccError {
  readonly clusterId: string;
  readonly status: string;

  constructor(clusterId: string, status: string, reason: string | undefined) {
    super(`cluster ${clusterId} is ${status}${reason ? `: ${reason}` : ''}`, { statusCode: 409 });
    this.clusterId = clusterId;
    this.status = status;
  }
}

/** A cluster named by NAME matched several clusters; each id is in `details`. */
export class AmbiguousClusterNameError extends ValidationError {
  constructor(name: string, matches: Array<{ id: string; status: string; createdAt: string }>) {
    super(
      `${matches.length} clusters are named ${JSON.stringify(name)}; give the id instead`,
      matches.map((m) => ({ path: 'cluster', message: `${m.id} (${m.status}, created ${m.createdAt})` })),
    );
  }
}

/** No cluster has this id or name. */
export class ClusterNotFoundError extends NotFoundError {
  constructor(ref: string, options: { cause?: unknown } = {}) {
    super(`cluster ${ref} not found: no cluster has that id or name; \`recc cluster list\` shows ids and names (--all for every user's)`, options);
  }
}
