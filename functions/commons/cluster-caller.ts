import type { Caller } from '../../control/clusters.ts';
import { ForbiddenError } from '../../control/errors.ts';
import { CLUSTER_PROOF_HEADER, parseClusterProof, proofSignedWith, proofTimeProblem } from '../../shared/api/cluster-proof.ts';
import { LIVE_STATUSES } from '../../shared/lifecycle/types.ts';
import type { ClusterStore } from '../../shared/ports/cluster-store.ts';
import { IdentityMappingError } from './errors.ts';
import { parsePrincipalArn, type IamPrincipal, type IdentityConfig } from './identity.ts';

/**
 * A cluster's own pods calling the API for its owner (issue 13: the driver
 * of a scheduled-job run on EKS reaching its cluster with `RECC_CLUSTER=id:…`).
 *
 * Every cluster's pods share one IAM role (EKS Pod Identity,
 * `RECC_CLUSTER_ROLE_ARNS`); its sessions name no user, and API Gateway
 * passes neither the session tags nor the source identity to the function.
 * So a session of that role is nobody until it proves one cluster with the
 * `x-recc-cluster-proof` header (an HMAC under that cluster's token, bound to
 * the cluster id, the HTTP method and a short expiry: shared/api/cluster-proof.ts).
 * Then it is the cluster's owner, not an admin, with rights on that cluster
 * only: the cluster's own routes (read, heartbeat, scale, delete, logs) with
 * its id in the path, nothing else (no other cluster, no list, no create, no
 * jobs, no costs).
 *
 * The proof header means nothing on any other principal: a user who sends one
 * is still only themselves.
 */

/** The routes (function names in functions/routes.ts) a cluster-scoped caller may use, each on its own cluster's id. */
export const CLUSTER_SCOPED_FUNCTIONS: ReadonlySet<string> = new Set(['getCluster', 'heartbeat', 'scaleCluster', 'deleteCluster', 'clusterLogs']);

/** The principal ARN when it is a session of a configured cluster role (exact role ARN, account included), else undefined. */
export function clusterRoleSession(iam: IamPrincipal | null | undefined, config: IdentityConfig): string | undefined {
  const arn = iam?.userArn;
  if (!arn || !config.clusterRoleArns?.length) return undefined;
  const principal = parsePrincipalArn(arn);
  if (principal?.kind !== 'assumed-role') return undefined;
  return config.clusterRoleArns.includes(principal.roleArn) ? arn : undefined;
}

export interface ClusterProofRequest {
  principalArn: string;
  /** The header as received (`undefined` when absent). */
  proof: string | undefined;
  method: string;
  store: Pick<ClusterStore, 'get'>;
  nowMs: number;
}

function refuse(arn: string, message: string, hint: string): never {
  throw new IdentityMappingError('cluster-role', arn, message, hint);
}

/** The owner of the proven cluster, limited to it; 403 naming what failed otherwise. */
export async function callerFromClusterProof(request: ClusterProofRequest): Promise<Caller> {
  const { principalArn: arn } = request;
  if (request.proof === undefined || request.proof === '') {
    refuse(arn, 'a session of the cluster role acts for nobody without a cluster proof', `send ${CLUSTER_PROOF_HEADER} (the recc client does when RECC_API_CLUSTER and RECC_API_CLUSTER_TOKEN_FILE are set)`);
  }
  const proof = parseClusterProof(request.proof);
  if (!proof) refuse(arn, `the ${CLUSTER_PROOF_HEADER} header is not a cluster proof`, 'expected v1.<cluster id>.<expiry ms>.<64 hex digits>');
  // The expiry first: its answer is the same whatever cluster the proof names.
  const late = proofTimeProblem(proof, request.nowMs);
  if (late) refuse(arn, late, 'make a new proof for each request (at most 5 minutes ahead)');
  const record = await request.store.get(proof.clusterId);
  const token = record && LIVE_STATUSES.includes(record.status) ? record.connection?.token : undefined;
  // One answer for "no such cluster", "not live" and "wrong signature": a pod learns nothing about other clusters.
  if (!record || !token || !proofSignedWith(proof, token, request.method)) {
    refuse(arn, `the proof does not match the token of a live cluster ${proof.clusterId}`, 'sign the proof with the token of your own cluster');
  }
  return { user: record.owner, admin: false, principalArn: arn, cluster: record.id };
}

/** A cluster-scoped caller may use its cluster's own routes on its own id only (403 otherwise). */
export function checkClusterScope(caller: Caller, functionName: string, pathId: unknown): void {
  if (caller.cluster === undefined) return;
  if (!CLUSTER_SCOPED_FUNCTIONS.has(functionName)) {
    throw new ForbiddenError(`a process of cluster ${caller.cluster} may only reach that cluster`, [
      { path: 'identity', message: `${functionName} is not one of the cluster's own routes (${[...CLUSTER_SCOPED_FUNCTIONS].join(', ')})` },
    ]);
  }
  if (pathId !== caller.cluster) {
    throw new ForbiddenError(`a process of cluster ${caller.cluster} may only reach that cluster`, [
      { path: 'path.id', message: `must be ${caller.cluster}, the cluster the proof names` },
    ]);
  }
}
