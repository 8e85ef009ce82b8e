import type { Obj, ObjectStore } from './k8s-store.ts';
import { resourceByKind } from './k8s-store.ts';

/**
 * NetworkPolicy for traffic the API server itself sends to a pod (the
 * service proxy, `kubectl port-forward` aside): on EKS that traffic leaves
 * the control plane's cross-account ENIs in the cluster's subnets, so it is
 * not pod traffic and only `ipBlock` peers can admit it. Semantics follow
 * pkg/apis/networking/types.go (NetworkPolicySpec, NetworkPolicyIngressRule,
 * NetworkPolicyPeer, NetworkPolicyPort), as enforced by the VPC CNI network
 * policy agent:
 * - a pod is isolated for ingress when a policy in its namespace selects it
 *   and lists `Ingress` in `policyTypes` (or has no `policyTypes`: Ingress is
 *   implied);
 * - an isolated pod admits a connection when some selecting policy has a rule
 *   whose `ports` (empty: all; number, named container port, `endPort`) and
 *   `from` (empty: every source; `ipBlock` with `except`; pod and namespace
 *   selectors match pods only) both match.
 */
interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

// staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go: LabelSelectorAsSelector (empty selector matches everything).
export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    if (e.operator === 'In' && !(has && (e.values ?? []).includes(value ?? ''))) return false;
    if (e.operator === 'NotIn' && has && (e.values ?? []).includes(value ?? '')) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function ipv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    const v = Number(p);
    if (!/^\d{1,3}$/.test(p) || v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function cidrContains(cidr: string, ip: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const addr = ipv4(ip);
  const net = ipv4(base ?? '');
  const bits = Number(bitsText ?? '32');
  if (addr === undefined || net === undefined || !(bits >= 0 && bits <= 32)) return false;
  if (bits === 0) return true;
  const size = 2 ** (32 - bits);
  return Math.floor(addr / size) === Math.floor(net / size);
}

function portMatches(rulePorts: any[] | undefined, pod: Obj, port: number): boolean {
  if (!rulePorts || rulePorts.length === 0) return true;
  const named = new Map<string, number>();
  for (const c of pod.spec?.containers ?? []) for (const p of c.ports ?? []) if (p.name) named.set(p.name, p.containerPort);
  return rulePorts.some((p) => {
    if ((p.protocol ?? 'TCP') !== 'TCP') return false;
    if (p.port === undefined) return true;
    const start = typeof p.port === 'string' ? named.get(p.port) : Number(p.port);
    if (start === undefined) return false;
    const end = typeof p.endPort === 'number' ? p.endPort : start;
    return port >= start && port <= end;
  });
}

/** Whether a TCP connection from `sourceIp` (not a pod) to `pod:port` passes the pod namespace's NetworkPolicies. */
export function proxyTrafficAllowed(store: ObjectStore, pod: Obj, port: number, sourceIp: string): boolean {
  const policies = store.list(resourceByKind('NetworkPolicy'), pod.metadata.namespace).filter((np) => {
    const types: string[] = np.spec?.policyTypes ?? ['Ingress'];
    return types.includes('Ingress') && selectorMatches(np.spec?.podSelector ?? {}, pod.metadata.labels);
  });
  if (policies.length === 0) return true;
  return policies.some((np) =>
    (np.spec?.ingress ?? []).some((rule: any) => {
      if (!portMatches(rule.ports, pod, port)) return false;
      const from: any[] = rule.from ?? [];
      if (from.length === 0) return true;
      return from.some((peer) => {
        if (!peer.ipBlock) return false; // pod / namespace selectors admit pods only
        if (!cidrContains(peer.ipBlock.cidr ?? '', sourceIp)) return false;
        return !(peer.ipBlock.except ?? []).some((c: string) => cidrContains(c, sourceIp));
      });
    }),
  );
}

/** The port a Service port forwards to on a pod (`targetPort`: number, named container port, or the port). */
export function targetPortOf(servicePort: { port: number; targetPort?: number | string }, pod: Obj): number | undefined {
  const t = servicePort.targetPort ?? servicePort.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(t)) return Number(t);
  for (const c of pod.spec?.containers ?? []) for (const p of c.ports ?? []) if (p.name === t) return p.containerPort;
  return undefined;
}
