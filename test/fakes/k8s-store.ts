/**
 * The object store behind the fake Kubernetes API server: resources, label
 * and field selectors, resourceVersion, uid, AlreadyExists / NotFound /
 * Conflict / Invalid as real `Status` objects. No HTTP here (see
 * `k8s-api-server.ts`), no controllers (see `k8s-kubelet.ts`).
 */
export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    generation?: number;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
    [k: string]: unknown;
  };
  spec?: any;
  status?: any;
  [k: string]: unknown;
};

export interface ResourceInfo {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** Name rule: DNS label (63) or DNS subdomain (253). */
  nameRule: 'label' | 'subdomain';
}

export const RESOURCES: ResourceInfo[] = [
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false, nameRule: 'label' },
  { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false, nameRule: 'subdomain' },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true, nameRule: 'subdomain' },
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true, nameRule: 'label' },
  { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true, nameRule: 'subdomain' },
  { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true, nameRule: 'subdomain' },
  { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true, nameRule: 'subdomain' },
  { group: '', version: 'v1', plural: 'resourcequotas', kind: 'ResourceQuota', namespaced: true, nameRule: 'subdomain' },
  { group: '', version: 'v1', plural: 'limitranges', kind: 'LimitRange', namespaced: true, nameRule: 'subdomain' },
  { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true, nameRule: 'subdomain' },
  { group: '', version: 'v1', plural: 'persistentvolumes', kind: 'PersistentVolume', namespaced: false, nameRule: 'subdomain' },
  { group: '', version: 'v1', plural: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim', namespaced: true, nameRule: 'subdomain' },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true, nameRule: 'subdomain' },
  { group: 'apps', version: 'v1', plural: 'daemonsets', kind: 'DaemonSet', namespaced: true, nameRule: 'subdomain' },
  { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job', namespaced: true, nameRule: 'label' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', kind: 'Role', namespaced: true, nameRule: 'subdomain' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', kind: 'RoleBinding', namespaced: true, nameRule: 'subdomain' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterroles', kind: 'ClusterRole', namespaced: false, nameRule: 'subdomain' },
  { group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false, nameRule: 'subdomain' },
  { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true, nameRule: 'subdomain' },
  { group: 'networking.k8s.io', version: 'v1', plural: 'ingresses', kind: 'Ingress', namespaced: true, nameRule: 'subdomain' },
  { group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true, nameRule: 'subdomain' },
];

export function resourceByPlural(group: string, version: string, plural: string): ResourceInfo | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

export function resourceByKind(kind: string): ResourceInfo {
  const r = RESOURCES.find((x) => x.kind === kind);
  if (!r) throw new Error(`fake k8s: unknown kind ${kind}`);
  return r;
}

export function apiVersionOf(r: ResourceInfo): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** `deployments.apps`, `pods` — how the API server names a resource in messages. */
export function qualifiedName(r: ResourceInfo): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

/** An error the API server answers with a `Status` object. */
export class ApiStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      details: this.details,
      code: this.code,
    };
  }
}

export const notFound = (r: ResourceInfo, name: string) =>
  new ApiStatusError(404, 'NotFound', `${qualifiedName(r)} "${name}" not found`, { name, group: r.group, kind: r.plural });

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_KEY_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function validateObject(r: ResourceInfo, obj: Obj): string[] {
  const problems: string[] = [];
  const name = obj.metadata?.name;
  if (!name) problems.push('metadata.name: Required value: name or generateName is required');
  else if (r.nameRule === 'label' ? !(DNS_LABEL.test(name) && name.length <= 63) : !(DNS_SUBDOMAIN.test(name) && name.length <= 253)) {
    problems.push(`metadata.name: Invalid value: "${name}": a lowercase RFC 1123 ${r.nameRule} must consist of lower case alphanumeric characters or '-'`);
  }
  for (const [k, v] of Object.entries(obj.metadata?.labels ?? {})) {
    const keyName = k.includes('/') ? k.slice(k.indexOf('/') + 1) : k;
    if (!LABEL_KEY_NAME.test(keyName) || keyName.length > 63) problems.push(`metadata.labels: Invalid value: "${k}": name part must be a valid label key`);
    if (typeof v !== 'string' || !LABEL_VALUE.test(v) || v.length > 63) problems.push(`metadata.labels: Invalid value: "${String(v)}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'`);
  }
  if (obj.kind !== r.kind) problems.push(`kind: Invalid value: "${obj.kind}": must be ${r.kind}`);
  if (obj.apiVersion !== apiVersionOf(r)) problems.push(`apiVersion: Invalid value: "${obj.apiVersion}": must be ${apiVersionOf(r)}`);
  if (r.kind === 'Job') {
    // pkg/apis/batch/validation: a Job's pods never restart in place, and a container needs an image.
    const policy = obj.spec?.template?.spec?.restartPolicy;
    if (policy !== 'Never' && policy !== 'OnFailure') problems.push(`spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`);
    const containers = obj.spec?.template?.spec?.containers ?? [];
    if (containers.length === 0) problems.push('spec.template.spec.containers: Required value');
    for (const [i, c] of containers.entries()) if (!c.image) problems.push(`spec.template.spec.containers[${i}].image: Required value`);
  }
  if (r.kind === 'Deployment') {
    const selector = obj.spec?.selector?.matchLabels ?? {};
    const labels = obj.spec?.template?.metadata?.labels ?? {};
    if (Object.keys(selector).length === 0) problems.push('spec.selector: Required value');
    for (const [k, v] of Object.entries(selector)) {
      if (labels[k] !== v) problems.push('spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`');
    }
    const containers = obj.spec?.template?.spec?.containers ?? [];
    if (containers.length === 0) problems.push('spec.template.spec.containers: Required value');
    for (const [i, c] of containers.entries()) {
      if (!c.image) problems.push(`spec.template.spec.containers[${i}].image: Required value`);
      const req = c.resources?.requests ?? {};
      const lim = c.resources?.limits ?? {};
      for (const k of Object.keys(req)) {
        if (k.includes('/') && lim[k] !== undefined && lim[k] !== req[k]) {
          problems.push(`spec.template.spec.containers[${i}].resources.requests[${k}]: Invalid value: must be equal to ${k} limit`);
        }
      }
    }
  }
  if (r.kind === 'RoleBinding' && !obj.roleRef) problems.push('roleRef: Required value');
  if (r.kind === 'NetworkPolicy') {
    for (const [i, rule] of (obj.spec?.ingress ?? []).entries()) {
      for (const [j, peer] of (rule.from ?? []).entries()) {
        const cidr = peer.ipBlock?.cidr;
        if (peer.ipBlock && !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(cidr ?? '')) {
          problems.push(`spec.ingress[${i}].from[${j}].ipBlock.cidr: Invalid value: "${cidr}": must be a valid CIDR`);
        }
      }
    }
  }
  return problems;
}

// ---------------------------------------------------------------- selectors

type Requirement = { key: string; op: 'in' | 'notin' | 'exists' | '!exists' | '=' | '!='; values: string[] };

/** Parse a label selector (equality- and set-based), as `kubectl get -l` accepts. */
export function parseLabelSelector(selector: string): Requirement[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (current.trim()) parts.push(current);
  return parts.map((raw) => {
    const p = raw.trim();
    let m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(p);
    if (m) return { key: m[1]!, op: m[2] as 'in' | 'notin', values: m[3]!.split(',').map((v) => v.trim()).filter(Boolean) };
    m = /^(\S+?)\s*(!=|==|=)\s*(\S*)$/.exec(p);
    if (m) return { key: m[1]!, op: m[2] === '!=' ? '!=' : '=', values: [m[3]!] };
    if (p.startsWith('!')) return { key: p.slice(1).trim(), op: '!exists', values: [] };
    if (/^\S+$/.test(p)) return { key: p, op: 'exists', values: [] };
    throw new ApiStatusError(400, 'BadRequest', `unable to parse requirement: ${p}`);
  });
}

export function matchesLabels(labels: Record<string, string> | undefined, requirements: Requirement[]): boolean {
  const l = labels ?? {};
  return requirements.every((r) => {
    const has = Object.hasOwn(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case '=':
        return has && v === r.values[0];
      case '!=':
        return !has || v !== r.values[0];
      case 'in':
        return has && r.values.includes(v ?? '');
      case 'notin':
        return !has || !r.values.includes(v ?? '');
    }
    return false;
  });
}

const FIELD_PATHS: Record<string, (o: Obj) => string | undefined> = {
  'metadata.name': (o) => o.metadata.name,
  'metadata.namespace': (o) => o.metadata.namespace,
  'spec.nodeName': (o) => o.spec?.nodeName ?? '',
  'status.phase': (o) => o.status?.phase,
  // Events (pkg/registry/core/event/strategy.go `ToSelectableFields`).
  'involvedObject.kind': (o) => (o as any).involvedObject?.kind,
  'involvedObject.name': (o) => (o as any).involvedObject?.name,
  'involvedObject.namespace': (o) => (o as any).involvedObject?.namespace,
  'involvedObject.uid': (o) => (o as any).involvedObject?.uid,
  'involvedObject.fieldPath': (o) => (o as any).involvedObject?.fieldPath,
  reason: (o) => (o as any).reason,
  type: (o) => (o as any).type,
  source: (o) => (o as any).source?.component,
  reportingComponent: (o) => (o as any).reportingComponent,
};

export function parseFieldSelector(selector: string): (o: Obj) => boolean {
  const tests = selector
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((p) => {
      const m = /^([a-zA-Z.]+)\s*(!=|==|=)\s*(.*)$/.exec(p);
      const get = m ? FIELD_PATHS[m[1]!] : undefined;
      if (!m || !get) throw new ApiStatusError(400, 'BadRequest', `field label not supported: ${p}`);
      const want = m[3]!;
      return m[2] === '!=' ? (o: Obj) => get(o) !== want : (o: Obj) => get(o) === want;
    });
  return (o) => tests.every((t) => t(o));
}

// ---------------------------------------------------------------- store

export const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

function key(r: ResourceInfo, namespace: string | undefined, name: string): string {
  return `${r.group}/${r.plural}|${namespace ?? ''}|${name}`;
}

export class ObjectStore {
  private readonly objects = new Map<string, Obj>();
  private rv = 0;
  private uidCounter = 0;
  constructor(private readonly now: () => number) {}

  nextResourceVersion(): string {
    this.rv += 1;
    return String(this.rv);
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  get(r: ResourceInfo, namespace: string | undefined, name: string): Obj | undefined {
    return this.objects.get(key(r, r.namespaced ? namespace : undefined, name));
  }

  mustGet(r: ResourceInfo, namespace: string | undefined, name: string): Obj {
    const o = this.get(r, namespace, name);
    if (!o) throw notFound(r, name);
    return o;
  }

  list(r: ResourceInfo, namespace?: string, filter?: (o: Obj) => boolean): Obj[] {
    const prefix = `${r.group}/${r.plural}|`;
    const out: Obj[] = [];
    for (const [k, o] of this.objects) {
      if (!k.startsWith(prefix)) continue;
      if (namespace !== undefined && r.namespaced && o.metadata.namespace !== namespace) continue;
      if (filter && !filter(o)) continue;
      out.push(o);
    }
    return out.sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
  }

  /** Insert a new object (uid, resourceVersion, creationTimestamp set here). */
  insert(r: ResourceInfo, obj: Obj): Obj {
    const k = key(r, r.namespaced ? obj.metadata.namespace : undefined, obj.metadata.name);
    if (this.objects.has(k)) {
      throw new ApiStatusError(409, 'AlreadyExists', `${qualifiedName(r)} "${obj.metadata.name}" already exists`, {
        name: obj.metadata.name,
        group: r.group,
        kind: r.plural,
      });
    }
    this.uidCounter += 1;
    const stored = clone(obj);
    stored.apiVersion = apiVersionOf(r);
    stored.kind = r.kind;
    stored.metadata.uid = `00000000-0000-4000-8000-${String(this.uidCounter).padStart(12, '0')}`;
    stored.metadata.creationTimestamp = new Date(this.now()).toISOString();
    stored.metadata.resourceVersion = this.nextResourceVersion();
    delete stored.metadata.deletionTimestamp;
    if (r.kind === 'Deployment') stored.metadata.generation = 1;
    if (!r.namespaced) delete stored.metadata.namespace;
    this.objects.set(k, stored);
    return stored;
  }

  /** Store a changed object (the caller has checked preconditions); bumps resourceVersion. */
  save(r: ResourceInfo, obj: Obj): Obj {
    obj.metadata.resourceVersion = this.nextResourceVersion();
    this.objects.set(key(r, r.namespaced ? obj.metadata.namespace : undefined, obj.metadata.name), obj);
    return obj;
  }

  remove(r: ResourceInfo, namespace: string | undefined, name: string): Obj | undefined {
    const k = key(r, r.namespaced ? namespace : undefined, name);
    const o = this.objects.get(k);
    if (o) this.objects.delete(k);
    return o;
  }

  /** Every namespaced object in a namespace (for cascading deletion). */
  removeNamespaceContents(namespace: string): number {
    let n = 0;
    for (const [k, o] of [...this.objects]) {
      if (o.metadata.namespace === namespace && !k.startsWith('/namespaces|')) {
        this.objects.delete(k);
        n += 1;
      }
    }
    return n;
  }
}
