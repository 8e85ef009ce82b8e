import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeletSimulator, type ControllerTiming } from './k8s-kubelet.ts';
import { podSecurityDenial } from './k8s-pod-security.ts';
import { quotaDenial } from './k8s-quota.ts';
import { validateVolumeObject } from './k8s-volumes.ts';
import { proxyTrafficAllowed, targetPortOf } from './k8s-rbac-netpol.ts';
import { RbacAuthorizer, bootstrapRbacObjects, requestAttributes, type AccessPolicyAssociation, type UserInfo } from './k8s-rbac.ts';
import type { AuthResult } from './k8s-rbac-authn.ts';
import { isSelfSubjectAccessReview, selfSubjectAccessReview } from './k8s-rbac-review.ts';
import {
  ApiStatusError,
  ObjectStore,
  RESOURCES,
  apiVersionOf,
  clone,
  matchesLabels,
  notFound,
  parseFieldSelector,
  parseLabelSelector,
  qualifiedName,
  resourceByKind,
  resourceByPlural,
  validateObject,
  type Obj,
  type ResourceInfo,
} from './k8s-store.ts';

export type { ControllerTiming, FailureRule, PodFailure, NodeSpecInput } from './k8s-kubelet.ts';

/**
 * A wire-level fake Kubernetes API server (node:http on 127.0.0.1) for the
 * REST paths the EKS backend uses, with real semantics:
 * - create → 201, or 409 `AlreadyExists`; 404 `NotFound` as a `Status` object;
 * - namespaced objects need their namespace (404), and a terminating namespace
 *   refuses new objects (403 `Forbidden`);
 * - every write bumps a global resourceVersion; a replace with a stale
 *   resourceVersion is a 409 `Conflict`; immutable fields (Service clusterIP,
 *   Deployment selector) give 422 `Invalid`, as do invalid names and labels;
 * - deleting a namespace marks it Terminating, then removes everything in it;
 * - label selectors (equality and set-based) and field selectors on lists;
 * - pod logs (`/pods/{name}/log`, `tailLines`, `previous`);
 * - Pod Security Admission on pod creation (`k8s-pod-security.ts`), and
 *   PersistentVolumes / PersistentVolumeClaims with static binding and the
 *   scheduler's volume check (`k8s-volumes.ts`);
 * - bearer-token authentication (401 `Unauthorized`): a fixed token for the
 *   backend (an administrator, `system:masters`) and/or an authenticator such
 *   as `eksTokenAuthenticator` (15-minute EKS tokens, `k8s-rbac-authn.ts`);
 * - authorisation of every request for the identity it was given: RBAC
 *   (Roles, ClusterRoles, bindings, bootstrap policy), EKS access policies,
 *   the escalation check on writing RBAC objects, real 403 `Forbidden`
 *   messages (`k8s-rbac.ts`); discovery (`/api`, `/apis`, …) for kubectl;
 * - the service proxy dials the pod from the control plane's address, so
 *   the namespace's NetworkPolicies apply to it (`k8s-rbac-netpol.ts`).
 * The controllers (Deployments → Pods, scheduler, kubelet, NLB hostnames)
 * live in `k8s-kubelet.ts` and run after every write.
 */
export interface FakeKubeApiServerOptions {
  /** A fixed bearer token (the backend's identity: an administrator in `system:masters`). */
  token?: string;
  /** Other bearer tokens (e.g. `eksTokenAuthenticator`); with `token`, a request must pass one of them. */
  authenticate?: (token: string) => Promise<AuthResult> | AuthResult;
  /** EKS access policies of an authenticated user (the EKS authorizer webhook). */
  accessPolicies?: (user: UserInfo) => AccessPolicyAssociation[];
  /**
   * Source address of the service proxy's connections to pods (the EKS control plane's
   * cross-account ENIs live in the cluster's subnets). @default '10.0.250.10'
   */
  controlPlaneIp?: string;
  /** Delay before a Terminating namespace's contents are removed. @default 0 */
  namespaceFinalizeMs?: number;
  now?: () => number;
  /** Controller delays (default: none). With a real clock, a ticker runs the controllers every `tickMs`. */
  timing?: ControllerTiming;
  /** Real-time ticker period when `timing` is given and `now` is not (a manual clock is driven with `tick()`). @default 10 */
  tickMs?: number;
  /**
   * Serve HTTPS with this certificate (kubectl sends credentials over TLS only:
   * clientcmd drops user identification for an http server).
   */
  tls?: { certPem: string; keyPem: string };
}

/** Runs before a request is served (tests use it to simulate another writer at an exact moment). */
export type RequestHook = (method: string, path: string) => void | Promise<void>;

export interface RequestRecord {
  method: string;
  path: string;
  status: number;
}

export class FakeKubeApiServer {
  readonly store: ObjectStore;
  readonly kubelet: KubeletSimulator;
  readonly requests: RequestRecord[] = [];
  /** Called before each request is served. */
  beforeRequest: RequestHook | undefined;
  /**
   * Chaos runs: when it says so, API Priority and Fairness rejects the
   * request after authentication and before authorization: 429, a plain-text
   * body and `Retry-After: 1` (k8s.io/apiserver pkg/server/filters
   * priority-and-fairness.go and maxinflight.go `tooManyRequests`; the filter
   * order is pkg/server/config.go `DefaultBuildHandlerChain`).
   */
  throttle: ((method: string, path: string) => boolean) | undefined;
  /**
   * Chaos runs: a write that was served (committed to etcd) whose answer is
   * lost and replaced by this error. etcd's "etcdserver: request timed out"
   * does not say the proposal failed: it may still commit (go.etcd.io/etcd
   * server/etcdserver/errors.go `ErrTimeout`, and the etcd API guarantees
   * page), and the API server turns it into 500 ServerTimeout with
   * Retry-After (k8s.io/apiserver pkg/storage/errors/storage.go); the
   * request-timeout filter answers 504 while the handler may still commit
   * (pkg/server/filters/timeout.go). A client that retries then meets its
   * own write: 409 AlreadyExists on a create, 409 Conflict on a replace with
   * the old resourceVersion, 404 on a delete.
   */
  loseAnswer: ((method: string, path: string) => ApiStatusError | undefined) | undefined;
  /**
   * What the simulated scheduler's dashboard answers on `/api/status` through
   * the service proxy, per namespace (merged over the default: as many
   * registered workers as Ready worker pods, nothing running).
   */
  readonly schedulerStatus = new Map<string, Record<string, unknown>>();
  /** Namespaces whose scheduler does not answer (the proxy gets a 503 from the pod). */
  readonly unreachableSchedulers = new Set<string>();
  private server: Server | undefined;
  private port = 0;
  private readonly pendingFinalizers = new Set<NodeJS.Timeout>();
  readonly rbac: RbacAuthorizer;

  private constructor(private readonly options: FakeKubeApiServerOptions) {
    const now = options.now ?? Date.now;
    this.store = new ObjectStore(now);
    this.kubelet = new KubeletSimulator(this.store, now);
    if (options.timing) this.kubelet.timing = options.timing;
    this.rbac = new RbacAuthorizer(this.store, options.accessPolicies);
    for (const obj of bootstrapRbacObjects()) this.store.insert(resourceByKind(obj.kind), obj);
  }

  /** The identity of a request: undefined when the server has no authentication configured (everything allowed). */
  private async authenticateRequest(req: IncomingMessage): Promise<UserInfo | undefined> {
    if (!this.options.token && !this.options.authenticate) return undefined;
    const header = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    // staging/src/k8s.io/apiserver/pkg/authentication/request/bearertoken/bearertoken.go: a missing or
    // refused token is 401 with the generic message (the reason goes to the server log only).
    if (bearer && this.options.token && bearer === this.options.token) return { username: 'recc-backend', groups: ['system:masters', 'system:authenticated'] };
    if (bearer && this.options.authenticate) {
      const result = await this.options.authenticate(bearer);
      if ('user' in result) return result.user;
      this.authFailures.push(result.error);
    }
    throw new ApiStatusError(401, 'Unauthorized', 'Unauthorized');
  }

  /** Why tokens were refused (the API server logs it; the client only sees 401). */
  readonly authFailures: string[] = [];

  /** Run the controllers once (what happens as time passes: backoffs end, containers exit, load balancers appear). */
  tick(): void {
    this.kubelet.reconcile();
  }

  private ticker: NodeJS.Timeout | undefined;

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  static async start(options: FakeKubeApiServerOptions = {}): Promise<FakeKubeApiServer> {
    const fake = new FakeKubeApiServer(options);
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      fake.handle(req, res).catch((err: unknown) => {
        fake.send(res, 500, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: String(err), reason: 'InternalError', code: 500 });
      });
    };
    const server: Server = options.tls ? createTlsServer({ cert: options.tls.certPem, key: options.tls.keyPem }, listener) : createServer(listener);
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.server = server;
    if (options.timing && !options.now) {
      fake.ticker = setInterval(() => fake.tick(), options.tickMs ?? 10);
      fake.ticker.unref();
    }
    fake.port = (server.address() as AddressInfo).port;
    return fake;
  }

  get url(): string {
    return `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    for (const t of this.pendingFinalizers) clearTimeout(t);
    this.pendingFinalizers.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Objects of a kind, for assertions (copies). */
  objects(kind: string, namespace?: string): Obj[] {
    return this.store.list(resourceByKind(kind), namespace).map((o) => clone(o));
  }

  object(kind: string, namespace: string | undefined, name: string): Obj | undefined {
    return clone(this.store.get(resourceByKind(kind), namespace, name));
  }

  /** Number of namespaces still present or terminating. */
  namespaceCount(filter: (ns: Obj) => boolean = () => true): number {
    return this.store.list(resourceByKind('Namespace'), undefined, filter).length;
  }

  // ------------------------------------------------------------------ HTTP

  private send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
    if (res.headersSent) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async readBody(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiStatusError(400, 'BadRequest', 'the request body is not valid JSON');
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    let status = 200;
    try {
      const user = await this.authenticateRequest(req);
      if (this.throttle?.(method, url.pathname)) {
        status = 429;
        req.resume();
        res.writeHead(429, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Retry-After': '1' });
        res.end('Too many requests, please try again later.\n');
        return;
      }
      if (user) {
        const attrs = requestAttributes(method, url);
        if (!this.rbac.authorize(user, attrs).allowed) throw RbacAuthorizer.forbidden(user, attrs);
      }
      if (this.beforeRequest) await this.beforeRequest(method, url.pathname);
      const result = await this.route(method, url, req, user);
      const lost = method !== 'GET' && result.status < 300 ? this.loseAnswer?.(method, url.pathname) : undefined;
      if (lost) throw lost;
      status = result.status;
      this.send(res, result.status, result.body, result.contentType);
    } catch (err) {
      const e = err instanceof ApiStatusError ? err : new ApiStatusError(500, 'InternalError', String((err as Error)?.stack ?? err));
      status = e.code;
      // A Status whose details carry retryAfterSeconds also sets Retry-After (k8s.io/apiserver
      // pkg/endpoints/handlers/responsewriters/writers.go `ErrorNegotiated`), e.g. ServerTimeout.
      const retryAfter = Number(e.details.retryAfterSeconds ?? 0);
      if (retryAfter > 0 && !res.headersSent) res.setHeader('Retry-After', String(retryAfter));
      this.send(res, e.code, e.toStatus());
    } finally {
      this.requests.push({ method, path: url.pathname, status });
    }
  }

  private parsePath(pathname: string): {
    resource: ResourceInfo;
    namespace?: string;
    name?: string;
    sub?: string;
  } {
    const split = splitApiPath(pathname);
    if (!split) throw new ApiStatusError(404, 'NotFound', `the server could not find the requested resource (${pathname})`);
    const { group, version, namespace, rest } = split;
    const [plural, name, sub] = rest;
    const resource = plural ? resourceByPlural(group, version, plural) : undefined;
    if (!resource || rest.length > 3) {
      throw new ApiStatusError(404, 'NotFound', `the server could not find the requested resource (${pathname})`);
    }
    if (resource.namespaced !== (namespace !== undefined) && name !== undefined) {
      throw new ApiStatusError(404, 'NotFound', `the server could not find the requested resource (${pathname})`);
    }
    return { resource, namespace, name, sub };
  }

  private async route(
    method: string,
    url: URL,
    req: IncomingMessage,
    user: UserInfo | undefined,
  ): Promise<{ status: number; body: unknown; contentType?: string }> {
    const discovery = method === 'GET' ? this.discovery(url.pathname) : undefined;
    if (discovery) return { status: 200, body: discovery };
    const proxy = /^\/api\/v1\/namespaces\/([^/]+)\/services\/([^/]+)\/proxy(\/.*)?$/.exec(url.pathname);
    if (proxy && method === 'GET') return this.serviceProxy(proxy[1] ?? '', decodeURIComponent(proxy[2] ?? ''), decodeURIComponent(proxy[3] ?? '/'), req);
    // `kubectl auth can-i` (k8s-rbac-review.ts): a review of the caller's own access, never stored.
    if (isSelfSubjectAccessReview(method, url.pathname)) return selfSubjectAccessReview(this.rbac, user, await this.readBody(req));
    const { resource: r, namespace, name, sub } = this.parsePath(url.pathname);
    if (sub !== undefined) {
      if (r.kind === 'Pod' && sub === 'log' && method === 'GET' && name) return this.podLog(namespace ?? '', name, url);
      throw new ApiStatusError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    }
    if (name === undefined) {
      if (method === 'GET') return { status: 200, body: this.list(r, namespace, url) };
      if (method === 'POST') {
        const body = (await this.readBody(req)) as Obj;
        if (user && body?.metadata) this.rbac.checkEscalation(user, r.kind, namespace ?? '', body);
        return { status: 201, body: this.create(r, namespace, body) };
      }
      throw new ApiStatusError(405, 'MethodNotAllowed', `method ${method} not allowed`);
    }
    if (method === 'GET') return { status: 200, body: clone(this.store.mustGet(r, namespace, name)) };
    if (method === 'PUT') {
      const body = (await this.readBody(req)) as Obj;
      if (user && body?.metadata) this.rbac.checkEscalation(user, r.kind, namespace ?? '', body);
      return { status: 200, body: this.replace(r, namespace, name, body) };
    }
    if (method === 'DELETE') return { status: 200, body: this.delete(r, namespace, name, url.searchParams.get('propagationPolicy') ?? undefined) };
    throw new ApiStatusError(405, 'MethodNotAllowed', `method ${method} not allowed`);
  }

  /** Discovery documents (staging/src/k8s.io/apiserver/pkg/endpoints/discovery/): what kubectl reads before a request. */
  private discovery(pathname: string): unknown {
    const path = pathname.replace(/\/+$/, '');
    const groups = new Map<string, string[]>();
    for (const r of RESOURCES) {
      if (!r.group) continue;
      const versions = groups.get(r.group) ?? [];
      if (!versions.includes(r.version)) versions.push(r.version);
      groups.set(r.group, versions);
    }
    const resourceList = (group: string, version: string) => ({
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: group ? `${group}/${version}` : version,
      resources: RESOURCES.filter((r) => r.group === group && r.version === version).map((r) => ({
        name: r.plural,
        singularName: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['create', 'delete', 'get', 'list', 'update'],
      })),
    });
    if (path === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }] };
    if (path === '/api/v1') return resourceList('', 'v1');
    if (path === '/apis') {
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [...groups].map(([name, versions]) => ({
          name,
          versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
          preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
        })),
      };
    }
    if (path === '/version') return { major: '1', minor: '31', gitVersion: 'v1.31.0-eks-fake', platform: 'linux/amd64' };
    const m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
    if (m && groups.get(m[1] ?? '')?.includes(m[2] ?? '')) return resourceList(m[1] ?? '', m[2] ?? '');
    return undefined;
  }

  /** Lists with label and field selectors (staging/src/k8s.io/apimachinery/pkg/labels/selector.go `Parse`, staging/src/k8s.io/apimachinery/pkg/fields/selector.go). */
  private list(r: ResourceInfo, namespace: string | undefined, url: URL): unknown {
    const labelSelector = url.searchParams.get('labelSelector');
    const fieldSelector = url.searchParams.get('fieldSelector');
    const requirements = labelSelector ? parseLabelSelector(labelSelector) : [];
    const fieldTest = fieldSelector ? parseFieldSelector(fieldSelector) : () => true;
    const items = this.store.list(r, namespace, (o) => matchesLabels(o.metadata.labels, requirements) && fieldTest(o));
    return {
      kind: `${r.kind}List`,
      apiVersion: apiVersionOf(r),
      metadata: { resourceVersion: this.store.resourceVersion },
      items: items.map((o) => clone(o)),
    };
  }

  private requireNamespace(r: ResourceInfo, namespace: string | undefined, action: string, name: string): void {
    if (!r.namespaced) return;
    const ns = this.store.get(resourceByKind('Namespace'), undefined, namespace ?? '');
    if (!ns) throw notFound(resourceByKind('Namespace'), namespace ?? '');
    // NamespaceLifecycle admission (staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/admission.go).
    if (ns.metadata.deletionTimestamp && action === 'create') {
      throw new ApiStatusError(
        403,
        'Forbidden',
        `${r.plural} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
      );
    }
  }

  /** The API server cannot decode a body without apiVersion and kind (staging/src/k8s.io/apimachinery/pkg/runtime/error.go `NewMissingKindErr`). */
  private requireKind(obj: Obj): void {
    if (!obj.kind) throw new ApiStatusError(400, 'BadRequest', `Object 'Kind' is missing in '${JSON.stringify(obj)}'`);
    if (!obj.apiVersion) throw new ApiStatusError(400, 'BadRequest', `Object 'apiVersion' is missing in '${JSON.stringify(obj)}'`);
  }

  private invalid(r: ResourceInfo, name: string, problems: string[]): ApiStatusError {
    return new ApiStatusError(422, 'Invalid', `${r.kind} "${name}" is invalid: ${problems.join(', ')}`, { name, group: r.group, kind: r.kind });
  }

  private create(r: ResourceInfo, namespace: string | undefined, body: Obj | undefined): Obj {
    if (!body || typeof body !== 'object' || !body.metadata) throw new ApiStatusError(400, 'BadRequest', 'the request body must be an object');
    if (body.metadata.namespace && namespace && body.metadata.namespace !== namespace) {
      throw new ApiStatusError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    }
    const obj = clone(body);
    this.requireKind(obj);
    if (r.namespaced) obj.metadata.namespace = namespace;
    const problems = [...validateObject(r, obj), ...validateVolumeObject(r.kind, obj)];
    if (problems.length > 0) throw this.invalid(r, obj.metadata.name, problems);
    this.requireNamespace(r, namespace, 'create', obj.metadata.name);
    // ResourceQuota admission for every kind quota counts (services.nodeports, services.loadbalancers, pods, count/*).
    const denied = quotaDenial(this.store, r, obj, this.now());
    if (denied) throw new ApiStatusError(403, 'Forbidden', denied);
    if (r.kind === 'Pod') {
      // Pod Security Admission runs before ResourceQuota (the last validating plugin): k8s-pod-security.ts.
      const refused = podSecurityDenial(this.store, obj);
      if (refused) throw new ApiStatusError(403, 'Forbidden', refused);
    }
    if (r.kind === 'Namespace') obj.status = { phase: 'Active' };
    // Volumes and claims start Pending (pkg/apis/core/v1/defaults.go `SetDefaults_PersistentVolume(Claim)`); the PV controller binds them.
    else if (r.kind === 'PersistentVolume' || r.kind === 'PersistentVolumeClaim') obj.status = { phase: 'Pending' };
    else if (r.kind !== 'Pod') delete obj.status;
    if (r.kind === 'Namespace') obj.spec = { finalizers: ['kubernetes'] };
    const stored = this.store.insert(r, obj);
    this.kubelet.reconcile();
    return clone(this.store.get(r, namespace, stored.metadata.name) ?? stored);
  }

  private replace(r: ResourceInfo, namespace: string | undefined, name: string, body: Obj | undefined): Obj {
    if (!body || typeof body !== 'object' || !body.metadata) throw new ApiStatusError(400, 'BadRequest', 'the request body must be an object');
    const current = this.store.mustGet(r, namespace, name);
    const obj = clone(body);
    this.requireKind(obj);
    if (obj.metadata.name !== name) throw new ApiStatusError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    if (r.namespaced) obj.metadata.namespace = namespace;
    // Optimistic concurrency: a stale resourceVersion is a 409 Conflict (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go
    // `Update`, the message from staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go `NewConflict` + registry `OptimisticLockErrorMsg`).
    const sent = obj.metadata.resourceVersion;
    if (sent !== undefined && sent !== '' && sent !== current.metadata.resourceVersion) {
      throw new ApiStatusError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualifiedName(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name, group: r.group, kind: r.plural },
      );
    }
    const problems = [...validateObject(r, obj), ...validateVolumeObject(r.kind, obj, current)];
    // Immutable fields: pkg/apis/core/validation/validation.go `ValidateServiceUpdate` (clusterIP),
    // pkg/apis/apps/validation/validation.go `ValidateDeploymentUpdate` (selector, apps/v1).
    if (r.kind === 'Service' && (obj.spec?.clusterIP ?? '') !== (current.spec?.clusterIP ?? '')) {
      problems.push(`spec.clusterIP: Invalid value: "${obj.spec?.clusterIP ?? ''}": field is immutable`);
    }
    if (r.kind === 'Deployment' && JSON.stringify(obj.spec?.selector) !== JSON.stringify(current.spec?.selector)) {
      problems.push('spec.selector: Invalid value: field is immutable');
    }
    if (problems.length > 0) throw this.invalid(r, name, problems);
    const denied = quotaDenial(this.store, r, obj, this.now(), current);
    if (denied) throw new ApiStatusError(403, 'Forbidden', denied);
    obj.metadata.uid = current.metadata.uid;
    obj.metadata.creationTimestamp = current.metadata.creationTimestamp;
    if (current.metadata.deletionTimestamp) obj.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
    // The main resource endpoint ignores status changes (they go through /status): each kind's strategy
    // `PrepareForUpdate`, e.g. pkg/registry/apps/deployment/strategy.go, which also bumps metadata.generation on a spec change.
    obj.status = current.status;
    if (r.kind === 'Namespace') obj.spec = current.spec;
    if (r.kind === 'Deployment') {
      const specChanged = JSON.stringify(obj.spec) !== JSON.stringify(current.spec);
      obj.metadata.generation = (current.metadata.generation ?? 1) + (specChanged ? 1 : 0);
    }
    if (r.kind === 'Service') {
      obj.spec.clusterIPs = current.spec?.clusterIPs;
      if (obj.spec.type !== current.spec?.type) obj.status = {};
    }
    this.store.save(r, obj);
    this.kubelet.reconcile();
    return clone(this.store.get(r, namespace, name) ?? obj);
  }

  private delete(r: ResourceInfo, namespace: string | undefined, name: string, propagationPolicy?: string): unknown {
    const current = this.store.mustGet(r, namespace, name);
    if (r.kind === 'Namespace') {
      // Graceful namespace deletion: phase Terminating now, contents removed by the namespace controller
      // (pkg/registry/core/namespace/storage/storage.go `Delete`, pkg/controller/namespace/deletion/namespaced_resources_deleter.go).
      if (!current.metadata.deletionTimestamp) {
        current.metadata.deletionTimestamp = new Date(this.now()).toISOString();
        current.status = { phase: 'Terminating' };
        this.store.save(r, current);
        const timer = setTimeout(() => {
          this.pendingFinalizers.delete(timer);
          this.finalizeNamespace(name);
        }, this.options.namespaceFinalizeMs ?? 0);
        this.pendingFinalizers.add(timer);
        return clone(current);
      }
      // Deleting a namespace already terminating: 409 Conflict while its finalizers run
      // (pkg/registry/core/namespace/storage/storage.go `Delete`: "The system is ensuring all content is removed…").
      throw new ApiStatusError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on namespaces "${name}": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.`,
        { name, kind: 'namespaces' },
      );
    }
    if (r.kind === 'Pod') {
      this.kubelet.deletePod(current);
      this.kubelet.reconcile();
      return clone(this.store.get(r, namespace, name) ?? current);
    }
    this.store.remove(r, namespace, name);
    // apps/v1 defaults to background propagation: the garbage collector deletes the pods (pkg/registry/apps/deployment/strategy.go
    // `DefaultGarbageCollectionPolicy`, pkg/controller/garbagecollector/garbagecollector.go).
    if (r.kind === 'Deployment') this.kubelet.deleteDependents(current);
    if (r.kind === 'Job') {
      // batch/v1 Jobs keep the legacy REST default (pkg/registry/batch/job/strategy.go DefaultGarbageCollectionPolicy:
      // OrphanDependents): without Background or Foreground their pods stay, ownerless, and keep running.
      if (propagationPolicy === 'Background' || propagationPolicy === 'Foreground') this.kubelet.deleteDependents(current);
      else this.kubelet.orphanDependents(current);
    }
    this.kubelet.reconcile();
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name, group: r.group, kind: r.plural, uid: current.metadata.uid },
    };
  }

  /** The namespace controller: remove everything in the namespace, then the namespace. */
  finalizeNamespace(name: string): void {
    this.store.removeNamespaceContents(name);
    for (const key of [...this.kubelet.logs.keys()]) if (key.startsWith(`${name}/`)) this.kubelet.logs.delete(key);
    this.store.remove(resourceByKind('Namespace'), undefined, name);
    this.kubelet.reconcile();
  }

  /**
   * The API server's service proxy, to the simulated scheduler dashboard behind the service: it picks a
   * ready endpoint of the Service's port (`<scheme>:<name>:<port>` addressing) and dials the pod
   * (pkg/registry/core/service/storage/storage.go `ResourceLocation`, 503 "no endpoints available for service").
   */
  private serviceProxy(namespace: string, target: string, path: string, req: IncomingMessage): { status: number; body: string; contentType: string } {
    const parts = target.split(':');
    const serviceName = parts.length === 3 ? parts[1] : parts[0];
    const portName = parts.length === 3 ? parts[2] : parts[1];
    const service = this.store.mustGet(resourceByKind('Service'), namespace, serviceName ?? '');
    const port = (service.spec?.ports ?? []).find((p: any) => portName === undefined || p.name === portName || String(p.port) === portName);
    if (!port) throw new ApiStatusError(503, 'ServiceUnavailable', `no endpoints available for service "${target}"`);
    const selector: Record<string, string> = service.spec?.selector ?? {};
    const endpoints = this.store.list(
      resourceByKind('Pod'),
      namespace,
      (p) =>
        Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v) &&
        (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
    );
    if (endpoints.length === 0) throw new ApiStatusError(503, 'ServiceUnavailable', `no endpoints available for service "${serviceName}"`);
    const pod = endpoints[0] as Obj;
    const podPort = targetPortOf(port, pod) ?? port.port;
    if (this.unreachableSchedulers.has(namespace)) {
      throw new ApiStatusError(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${pod.status?.podIP}:${podPort}: connect: connection refused`);
    }
    // The proxy dials the pod from the control plane; a NetworkPolicy that does not admit that address drops the SYN.
    if (!proxyTrafficAllowed(this.store, pod, podPort, this.options.controlPlaneIp ?? '10.0.250.10')) {
      throw new ApiStatusError(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${pod.status?.podIP}:${podPort}: i/o timeout`);
    }
    const normalized = path.replace(/\/+$/, '') || '/';
    if (normalized === '/health') return { status: 200, body: 'ok', contentType: 'text/plain' };
    if (normalized !== '/api/status') throw new ApiStatusError(404, 'NotFound', `the server could not find the requested resource (${path})`);
    // The scheduler's status API needs the cluster token (issue 17 #9). The real API server authenticates
    // the proxy request with Authorization and removes it, so only `x-recc-token` reaches the pod.
    const secret = this.store.get(resourceByKind('Secret'), namespace, 'recc-cluster-tls');
    const stored = (secret?.data as Record<string, string> | undefined)?.token;
    const token = stored === undefined ? undefined : Buffer.from(stored, 'base64').toString('utf8');
    if (token === undefined || req.headers['x-recc-token'] !== token) {
      return { status: 401, body: JSON.stringify({ error: { type: 'UnauthorizedError', message: 'the status API needs the cluster token' } }), contentType: 'application/json' };
    }
    const workers = this.store.list(
      resourceByKind('Pod'),
      namespace,
      (p) => p.metadata.labels?.['recc.io/component'] === 'worker' && (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
    );
    const status = {
      workers: workers.length,
      workerNames: workers.map((w) => w.metadata.name),
      tasksProcessing: 0,
      tasksQueued: 0,
      tasksInMemory: 0,
      tasksTotal: 0,
      clientsConnected: 0,
      lastActivityAt: null,
      uptimeSeconds: 1,
      ...this.schedulerStatus.get(namespace),
    };
    return { status: 200, body: JSON.stringify(status), contentType: 'application/json' };
  }

  private podLog(namespace: string, name: string, url: URL): { status: number; body: string; contentType: string } {
    const pod = this.store.mustGet(resourceByKind('Pod'), namespace, name);
    const key = `${namespace}/${name}`;
    const log = this.kubelet.logs.get(key);
    if (log === undefined) {
      // pkg/kubelet/kubelet_pods.go `validateContainerLogStatus`: a container that never ran has no log (400).
      const container = pod.spec?.containers?.[0]?.name ?? 'main';
      const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? 'ContainerCreating';
      throw new ApiStatusError(400, 'BadRequest', `container "${container}" in pod "${name}" is waiting to start: ${waiting}`);
    }
    const tail = url.searchParams.get('tailLines');
    let text = log;
    if (url.searchParams.get('timestamps') === 'true') {
      // RFC 3339 with nanoseconds before each line; the fake knows only when the log was last written.
      const at = new Date(this.kubelet.logTimes.get(key) ?? Date.parse(pod.status?.startTime ?? '') ?? this.now()).toISOString().replace('Z', '000000Z');
      text = log.split('\n').map((line, i, all) => (i === all.length - 1 && line === '' ? '' : `${at} ${line}`)).join('\n');
    }
    if (tail !== null) {
      const n = Number(tail);
      const lines = log.split('\n');
      const trailing = lines.at(-1) === '' ? lines.pop() : undefined;
      text = text.split('\n').slice(0, lines.length).slice(Math.max(0, lines.length - n)).join('\n') + (trailing === '' ? '\n' : '');
    }
    return { status: 200, body: text, contentType: 'text/plain' };
  }
}

export { RESOURCES };

/**
 * `/api/v1[/namespaces/N]/rest…` or `/apis/G/V[/namespaces/N]/rest…` split into its parts
 * (the API server's request-info resolution, staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go);
 * undefined for any other path.
 */
export function splitApiPath(pathname: string): { group: string; version: string; namespace?: string; rest: string[] } | undefined {
  const parts = pathname.split('/').filter(Boolean);
  let group = '';
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts[1]) {
    version = parts[1];
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts[1] && parts[2]) {
    group = parts[1];
    version = parts[2];
    rest = parts.slice(3);
  } else return undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) return { group, version, namespace: rest[1], rest: rest.slice(2) };
  return { group, version, rest };
}
