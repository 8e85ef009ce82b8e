import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * A cluster's own processes calling the recc API (issue 13): the driver of a
 * scheduled-job run (a Kubernetes Job in its cluster's namespace) reaches its
 * cluster through the API with `RECC_CLUSTER=id:<cluster>`, signed with the
 * pod's IAM identity, the shared cluster role (EKS Pod Identity). That role
 * names no user, and API Gateway does not pass the session tags (the pod's
 * namespace) to the function, so the pod adds a proof that it belongs to one
 * cluster: an HMAC under that cluster's token, which only the cluster's pods
 * (its Secret) and its owner (through the API) hold.
 *
 *     x-recc-cluster-proof: v1.<cluster id>.<expiry ms>.<HMAC-SHA256(token, "recc-cluster-proof-v1:<cluster id>:<expiry>:<METHOD>")>
 *
 * The API maps such a request to the cluster's owner with rights limited to
 * that one cluster (`functions/commons/cluster-caller.ts`). The token never
 * travels; a proof is bound to one cluster, one HTTP method and a short
 * expiry, and its message is domain-separated from the dashboard links
 * signed under the same token (`shared/engine/dashboard-link.ts`).
 */
export const CLUSTER_PROOF_HEADER = 'x-recc-cluster-proof';
/** A proof may not claim to live longer than this (a clock skew allowance included). */
export const CLUSTER_PROOF_MAX_TTL_MS = 5 * 60_000;
/** What the client asks for: short, renewed on every request. */
export const CLUSTER_PROOF_TTL_MS = 60_000;

const PROOF = /^v1\.([a-z0-9][a-z0-9-]{0,63})\.(\d{1,16})\.([0-9a-f]{64})$/;

function signature(token: string, clusterId: string, expiresAtMs: number, method: string): string {
  return createHmac('sha256', token).update(`recc-cluster-proof-v1:${clusterId}:${expiresAtMs}:${method.toUpperCase()}`).digest('hex');
}

/** The header value proving, until `expiresAtMs`, that the caller holds the token of `clusterId`, for one `method`. */
export function clusterProof(token: string, clusterId: string, method: string, expiresAtMs: number): string {
  return `v1.${clusterId}.${expiresAtMs}.${signature(token, clusterId, expiresAtMs, method)}`;
}

export interface ParsedClusterProof {
  clusterId: string;
  expiresAtMs: number;
  signature: string;
}

/** The parts of a proof, or undefined when the value is not one (strict: ASCII, fixed shape, bounded lengths). */
export function parseClusterProof(value: string | undefined): ParsedClusterProof | undefined {
  if (typeof value !== 'string' || value.length > 200) return undefined;
  const m = PROOF.exec(value);
  if (!m) return undefined;
  return { clusterId: m[1] as string, expiresAtMs: Number(m[2]), signature: m[3] as string };
}

/** Why the proof's expiry is not acceptable now (expired, or claiming too long a life), or undefined when it is. */
export function proofTimeProblem(proof: ParsedClusterProof, nowMs: number): string | undefined {
  if (!(proof.expiresAtMs > nowMs)) return 'the proof has expired';
  if (proof.expiresAtMs > nowMs + CLUSTER_PROOF_MAX_TTL_MS) return `the proof claims to live longer than ${CLUSTER_PROOF_MAX_TTL_MS / 1000} s`;
  return undefined;
}

/** True when the proof is signed with `token` for `method` (constant-time comparison; the expiry is checked apart). */
export function proofSignedWith(proof: ParsedClusterProof, token: string, method: string): boolean {
  const want = Buffer.from(signature(token, proof.clusterId, proof.expiresAtMs, method), 'hex');
  const got = Buffer.from(proof.signature, 'hex');
  return want.length === got.length && timingSafeEqual(want, got);
}
