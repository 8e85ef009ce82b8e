import { resourceByKind, qualifiedName, type Obj, type ObjectStore, type ResourceInfo } from './k8s-store.ts';

/**
 * ResourceQuota admission of the fake API server, for every object kind that
 * quota counts (not only pods). Each rule names its Kubernetes source.
 *
 * Usage is computed from the live objects (the real admission plugin reads
 * the quota's `status.used`, which the quota controller keeps equal to the
 * same sums), and only resources that a request INCREASES are checked
 * (plugin/pkg/admission/resourcequota/controller.go: `CheckRequest` compares
 * the delta of an update with the old object).
 */

export function cpuMilli(q: unknown): number {
  if (q === undefined) return 0;
  const s = String(q);
  return s.endsWith('m') ? Number(s.slice(0, -1)) : Number(s) * 1000;
}

const MEM: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
export function memBytes(q: unknown): number {
  if (q === undefined) return 0;
  const m = /^([0-9.e+]+)([KMGT]i|[kMGT])?$/.exec(String(q));
  return m ? Number(m[1]) * (m[2] ? (MEM[m[2]] ?? 1) : 1) : 0;
}

/** Quantities in comparable numbers: cpu in millicores, memory in bytes, counts as they are. */
function quantity(resource: string, q: unknown): number {
  if (resource.endsWith('cpu')) return cpuMilli(q);
  if (resource.endsWith('memory') || resource.endsWith('storage')) return memBytes(q);
  return Number(q);
}

/** Back to Kubernetes quantity notation for messages (`1`, `500m`, `1536Mi`). */
function formatQuantity(resource: string, value: unknown): string {
  if (typeof value !== 'number') return String(value);
  if (resource.endsWith('cpu')) return value % 1000 === 0 ? String(value / 1000) : `${value}m`;
  if (resource.endsWith('memory') || resource.endsWith('storage')) return value % 2 ** 20 === 0 ? `${value / 2 ** 20}Mi` : String(value);
  return String(value);
}

export const isTerminalPod = (pod: Obj): boolean => pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';

/**
 * pkg/quota/v1/evaluator/core/pods.go `QuotaV1Pod`: a terminal pod (Failed,
 * Succeeded) is not charged; a terminating pod IS charged until its
 * deletionTimestamp plus its grace period has passed (the registry set the
 * deletionTimestamp to delete time + grace, pkg/registry/core/pod/strategy.go),
 * so during a rolling update the old pods still hold their quota.
 */
export function podChargedToQuota(pod: Obj, now: number): boolean {
  if (isTerminalPod(pod)) return false;
  const deletion = pod.metadata.deletionTimestamp;
  const grace = pod.metadata.deletionGracePeriodSeconds as number | undefined;
  if (deletion && grace !== undefined && now > Date.parse(deletion) + grace * 1000) return false;
  return true;
}

/** pkg/quota/v1/evaluator/core/pods.go `PodUsageFunc`: requests.* / limits.* summed over containers, plus `pods`. */
function podUsage(pod: Obj, now: number): Record<string, number> {
  if (!podChargedToQuota(pod, now)) return {};
  const out: Record<string, number> = { pods: 1, 'count/pods': 1 };
  for (const c of pod.spec?.containers ?? []) {
    const requests = c.resources?.requests ?? c.resources?.limits ?? {};
    const limits = c.resources?.limits ?? {};
    for (const [k, v] of Object.entries(requests)) {
      out[`requests.${k}`] = (out[`requests.${k}`] ?? 0) + quantity(k, v);
      // The legacy unprefixed names (`cpu`, `memory`) are requests too.
      if (k === 'cpu' || k === 'memory') out[k] = (out[k] ?? 0) + quantity(k, v);
    }
    for (const [k, v] of Object.entries(limits)) out[`limits.${k}`] = (out[`limits.${k}`] ?? 0) + quantity(k, v);
  }
  return out;
}

/**
 * pkg/quota/v1/evaluator/core/services.go `Usage`: every Service counts in
 * `services`; a NodePort Service uses one `services.nodeports` per port; a
 * LoadBalancer Service uses one `services.loadbalancers` and ALSO one
 * `services.nodeports` per port, unless `allocateLoadBalancerNodePorts: false`
 * (then only ports with an explicit nodePort count).
 */
function serviceUsage(svc: Obj): Record<string, number> {
  const out: Record<string, number> = { services: 1, 'count/services': 1 };
  const ports: any[] = svc.spec?.ports ?? [];
  if (svc.spec?.type === 'NodePort') out['services.nodeports'] = ports.length;
  if (svc.spec?.type === 'LoadBalancer') {
    out['services.loadbalancers'] = 1;
    out['services.nodeports'] = svc.spec?.allocateLoadBalancerNodePorts === false ? ports.filter((p) => p.nodePort).length : ports.length;
  }
  return out;
}

/** pkg/quota/v1/generic/evaluator.go object count quota: `count/<resource>[.<group>]`, and the legacy names of core/resources.go. */
function objectCountUsage(r: ResourceInfo): Record<string, number> {
  const out: Record<string, number> = { [`count/${qualifiedName(r)}`]: 1 };
  if (['secrets', 'configmaps', 'resourcequotas'].includes(r.plural) && !r.group) out[r.plural] = 1;
  return out;
}

export function quotaUsage(r: ResourceInfo, obj: Obj, now: number): Record<string, number> {
  if (r.kind === 'Pod') return podUsage(obj, now);
  if (r.kind === 'Service') return serviceUsage(obj);
  return objectCountUsage(r);
}

/**
 * The 403 the API server answers when `obj` (replacing `old`, if any) would
 * exceed a ResourceQuota of its namespace, or undefined when admitted.
 * Message format of plugin/pkg/admission/resourcequota/controller.go.
 */
export function quotaDenial(store: ObjectStore, r: ResourceInfo, obj: Obj, now: number, old?: Obj): string | undefined {
  if (!r.namespaced) return undefined;
  const ns = obj.metadata.namespace;
  const QUOTA = resourceByKind('ResourceQuota');
  const wanted = quotaUsage(r, obj, now);
  const before = old ? quotaUsage(r, old, now) : {};
  for (const q of store.list(QUOTA, ns)) {
    const hard: Record<string, unknown> = q.spec?.hard ?? {};
    const delta = Object.entries(wanted)
      .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
      .filter(([k, d]) => d > 0 && hard[k] !== undefined);
    if (delta.length === 0) continue;
    const used: Record<string, number> = {};
    for (const k of delta.map(([key]) => key)) used[k] = 0;
    // Every key of `wanted` is charged only by objects of r's own kind.
    for (const existing of store.list(r, ns)) {
      if (old && existing.metadata.uid === old.metadata.uid) continue;
      const u = quotaUsage(r, existing, now);
      for (const k of Object.keys(used)) used[k] = (used[k] ?? 0) + (u[k] ?? 0);
    }
    const over = delta.filter(([k, d]) => (used[k] ?? 0) + d > quantity(k, hard[k]) + 1e-6);
    if (over.length > 0) {
      const names = over.map(([k]) => k).sort();
      const fmt = (f: (k: string) => unknown) => names.map((k) => `${k}=${formatQuantity(k, f(k))}`).join(',');
      return (
        `${r.plural} "${obj.metadata.name}" is forbidden: exceeded quota: ${q.metadata.name}, ` +
        `requested: ${fmt((k) => delta.find(([x]) => x === k)?.[1])}, used: ${fmt((k) => used[k])}, limited: ${fmt((k) => hard[k])}`
      );
    }
  }
  return undefined;
}
