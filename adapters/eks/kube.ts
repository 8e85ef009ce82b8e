import { createHash } from 'node:crypto';
import {
  ApiException,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  PolicyV1Api,
  RbacAuthorizationV1Api,
  type RequestContext,
} from '@kubernetes/client-node';
import { retry, sleep, type BackoffPolicy } from '../../shared/core/retry.ts';
import { KubernetesApiError, KubernetesConflictError } from './errors.ts';
import { EKS_ANNOTATIONS } from './manifests/naming.ts';
import type { AppliedKind, K8sObject } from './manifests/types.ts';

/**
 * The Kubernetes side of the EKS backend: a KubeConfig built in code, typed
 * API clients from `@kubernetes/client-node` 1.4.0, and an applier that does
 * create-or-update (read → create, or replace with the read resourceVersion;
 * a 409 Conflict re-reads and retries) and delete (404 = success).
 *
 * Idempotence: each desired object carries the sha256 of its own JSON in the
 * `recc.io/spec-hash` annotation; an object whose stored hash matches is not
 * replaced, so a second apply of the same definition writes nothing.
 */
/**
 * A bearer-token getter (`eksTokenProvider`): asked before every request, so a
 * token is never used past its refresh time; `invalidate` drops the cached
 * token after the API server refused it (401), so the next call signs anew.
 */
export type TokenSource = (() => Promise<string>) & { invalidate?: () => void };

export interface KubeConnection {
  /** API server URL, e.g. the EKS endpoint or `http://127.0.0.1:PORT` for the fake. */
  server: string;
  /** Bearer token (an EKS token getter from `eksTokenProvider()` or a fixed one for tests). */
  token?: string | TokenSource;
  /** Base64 PEM of the API server CA (EKS `certificateAuthority.data`). */
  caData?: string;
  skipTLSVerify?: boolean;
  /** How a retry waits (tests that compress time pass a scaled sleep). @default real time */
  sleep?: (ms: number) => Promise<void>;
}

function loadConnection(kc: KubeConfig, server: string, token: string | undefined, options: { caData?: string; skipTLSVerify?: boolean }): KubeConfig {
  kc.loadFromOptions({
    clusters: [{ name: 'recc-eks', server, skipTLSVerify: options.skipTLSVerify ?? false, ...(options.caData ? { caData: options.caData } : {}) }],
    users: [{ name: 'recc-backend', ...(token ? { token } : {}) }],
    contexts: [{ name: 'recc', cluster: 'recc-eks', user: 'recc-backend' }],
    currentContext: 'recc',
  });
  return kc;
}

export function buildKubeConfig(server: string, token: string | undefined, options: { caData?: string; skipTLSVerify?: boolean } = {}): KubeConfig {
  return loadConnection(new KubeConfig(), server, token, options);
}

export interface KubeApis {
  core: CoreV1Api;
  apps: AppsV1Api;
  /** Scheduled-job drivers (adapters/eks/job-driver.ts). */
  batch: BatchV1Api;
  rbac: RbacAuthorizationV1Api;
  networking: NetworkingV1Api;
  policy: PolicyV1Api;
}

/** A KubeConfig whose bearer token is asked for on every request (client-node calls this per request). */
class TokenSourceKubeConfig extends KubeConfig {
  constructor(private readonly tokenSource: TokenSource) {
    super();
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    context.setHeaderParam('Authorization', `Bearer ${await this.tokenSource()}`);
  }
}

/**
 * API clients built once. With a token getter, every request carries the
 * getter's current token (EKS tokens live 15 minutes; `eksTokenProvider`
 * re-signs after 10), and a 401 invalidates the getter's token and retries
 * the call once with a fresh one: a token the server no longer accepts (clock
 * skew, a process frozen past the token's lifetime) costs one retry, not a
 * failed reconcile.
 */
export class KubeClients {
  private cached: KubeApis | undefined;
  constructor(private readonly connection: KubeConnection) {}

  async apis(): Promise<KubeApis> {
    if (this.cached) return this.cached;
    const t = this.connection.token;
    const options = {
      ...(this.connection.caData ? { caData: this.connection.caData } : {}),
      ...(this.connection.skipTLSVerify !== undefined ? { skipTLSVerify: this.connection.skipTLSVerify } : {}),
    };
    let kc: KubeConfig;
    if (typeof t === 'function') {
      kc = loadConnection(new TokenSourceKubeConfig(t), this.connection.server, undefined, options);
    } else {
      kc = buildKubeConfig(this.connection.server, t, options);
    }
    const source = typeof t === 'function' ? t : undefined;
    const wait = this.connection.sleep ?? ((ms: number) => sleep(ms));
    this.cached = {
      core: retrying(kc.makeApiClient(CoreV1Api), source, wait),
      apps: retrying(kc.makeApiClient(AppsV1Api), source, wait),
      batch: retrying(kc.makeApiClient(BatchV1Api), source, wait),
      rbac: retrying(kc.makeApiClient(RbacAuthorizationV1Api), source, wait),
      networking: retrying(kc.makeApiClient(NetworkingV1Api), source, wait),
      policy: retrying(kc.makeApiClient(PolicyV1Api), source, wait),
    };
    return this.cached;
  }
}

/**
 * Throttled requests are retried as client-go retries them (issue 22 chaos
 * run): API Priority and Fairness answers 429 with `Retry-After` before the
 * request is served, and a 5xx with `Retry-After` asks for the same
 * (k8s.io/client-go rest/with_retry.go `checkWait`, at most 10 retries). The
 * wait is the server's `Retry-After` (capped), never less than the backoff.
 */
const THROTTLE_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 2_000, factor: 2, jitter: 'equal' };
const THROTTLE_ATTEMPTS = 11;
const RETRY_AFTER_CAP_MS = 10_000;

/** The wait a throttled answer asks for (ms), or undefined when the error is not one to retry. */
export function throttledRetryAfterMs(err: unknown): number | undefined {
  if (!(err instanceof ApiException)) return undefined;
  const headers = (err.headers ?? {}) as Record<string, string | undefined>;
  const header = headers['retry-after'] ?? headers['Retry-After'];
  if (err.code !== 429 && !(err.code >= 500 && header !== undefined)) return undefined;
  const seconds = Number(header ?? 1);
  return Math.min(RETRY_AFTER_CAP_MS, Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000);
}

/**
 * Wrap an API client so throttled requests are retried after their
 * `Retry-After`, and (with a token source) a 401 refreshes the token and
 * retries the call once.
 */
function retrying<T extends object>(api: T, source: TokenSource | undefined, wait: (ms: number) => Promise<void>): T {
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const call = (args: unknown[]) => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
      return async (...args: unknown[]) => {
        let refreshed = false;
        let retryAfterMs = 0;
        return retry(
          async () => {
            try {
              return await call(args);
            } catch (err) {
              if (apiStatus(err) !== 401 || !source?.invalidate || refreshed) throw err;
              refreshed = true;
              source.invalidate();
              return call(args);
            }
          },
          {
            ...THROTTLE_BACKOFF,
            attempts: THROTTLE_ATTEMPTS,
            retryIf: (err) => {
              const ms = throttledRetryAfterMs(err);
              if (ms === undefined) return false;
              retryAfterMs = ms;
              return true;
            },
            sleep: (ms) => wait(Math.max(ms, retryAfterMs)),
          },
        );
      };
    },
  });
}

/** HTTP status of a client-node error, or undefined when it is not an API answer. */
export function apiStatus(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/** The `reason` of the Status object in an ApiException (its `.body` is a JSON string). */
export function apiReason(err: unknown): { reason?: string; message?: string } {
  if (!(err instanceof ApiException)) return {};
  const body: unknown = err.body;
  try {
    const parsed = (typeof body === 'string' ? JSON.parse(body) : body) as { reason?: string; message?: string } | undefined;
    return { reason: parsed?.reason, message: parsed?.message };
  } catch {
    return {};
  }
}

export function wrapApiError(err: unknown, action: string): Error {
  if (!(err instanceof ApiException)) return err instanceof Error ? err : new Error(String(err));
  const { reason, message } = apiReason(err);
  return new KubernetesApiError(`Kubernetes API ${action} failed: ${err.code} ${reason ?? ''} ${message ?? ''}`.trim(), err.code, reason, { cause: err });
}

type AnyObj = any;

interface KindOps {
  read(apis: KubeApis, namespace: string, name: string): Promise<AnyObj>;
  create(apis: KubeApis, namespace: string, body: AnyObj): Promise<AnyObj>;
  replace(apis: KubeApis, namespace: string, name: string, body: AnyObj): Promise<AnyObj>;
  remove(apis: KubeApis, namespace: string, name: string): Promise<unknown>;
}

const OPS: Record<AppliedKind, KindOps> = {
  Namespace: {
    read: (a, _ns, name) => a.core.readNamespace({ name }),
    create: (a, _ns, body) => a.core.createNamespace({ body }),
    replace: (a, _ns, name, body) => a.core.replaceNamespace({ name, body }),
    remove: (a, _ns, name) => a.core.deleteNamespace({ name }),
  },
  ServiceAccount: {
    read: (a, namespace, name) => a.core.readNamespacedServiceAccount({ name, namespace }),
    create: (a, namespace, body) => a.core.createNamespacedServiceAccount({ namespace, body }),
    replace: (a, namespace, name, body) => a.core.replaceNamespacedServiceAccount({ name, namespace, body }),
    remove: (a, namespace, name) => a.core.deleteNamespacedServiceAccount({ name, namespace }),
  },
  Role: {
    read: (a, namespace, name) => a.rbac.readNamespacedRole({ name, namespace }),
    create: (a, namespace, body) => a.rbac.createNamespacedRole({ namespace, body }),
    replace: (a, namespace, name, body) => a.rbac.replaceNamespacedRole({ name, namespace, body }),
    remove: (a, namespace, name) => a.rbac.deleteNamespacedRole({ name, namespace }),
  },
  RoleBinding: {
    read: (a, namespace, name) => a.rbac.readNamespacedRoleBinding({ name, namespace }),
    create: (a, namespace, body) => a.rbac.createNamespacedRoleBinding({ namespace, body }),
    replace: (a, namespace, name, body) => a.rbac.replaceNamespacedRoleBinding({ name, namespace, body }),
    remove: (a, namespace, name) => a.rbac.deleteNamespacedRoleBinding({ name, namespace }),
  },
  NetworkPolicy: {
    read: (a, namespace, name) => a.networking.readNamespacedNetworkPolicy({ name, namespace }),
    create: (a, namespace, body) => a.networking.createNamespacedNetworkPolicy({ namespace, body }),
    replace: (a, namespace, name, body) => a.networking.replaceNamespacedNetworkPolicy({ name, namespace, body }),
    remove: (a, namespace, name) => a.networking.deleteNamespacedNetworkPolicy({ name, namespace }),
  },
  ResourceQuota: {
    read: (a, namespace, name) => a.core.readNamespacedResourceQuota({ name, namespace }),
    create: (a, namespace, body) => a.core.createNamespacedResourceQuota({ namespace, body }),
    replace: (a, namespace, name, body) => a.core.replaceNamespacedResourceQuota({ name, namespace, body }),
    remove: (a, namespace, name) => a.core.deleteNamespacedResourceQuota({ name, namespace }),
  },
  LimitRange: {
    read: (a, namespace, name) => a.core.readNamespacedLimitRange({ name, namespace }),
    create: (a, namespace, body) => a.core.createNamespacedLimitRange({ namespace, body }),
    replace: (a, namespace, name, body) => a.core.replaceNamespacedLimitRange({ name, namespace, body }),
    remove: (a, namespace, name) => a.core.deleteNamespacedLimitRange({ name, namespace }),
  },
  Secret: {
    read: (a, namespace, name) => a.core.readNamespacedSecret({ name, namespace }),
    create: (a, namespace, body) => a.core.createNamespacedSecret({ namespace, body }),
    replace: (a, namespace, name, body) => a.core.replaceNamespacedSecret({ name, namespace, body }),
    remove: (a, namespace, name) => a.core.deleteNamespacedSecret({ name, namespace }),
  },
  ConfigMap: {
    read: (a, namespace, name) => a.core.readNamespacedConfigMap({ name, namespace }),
    create: (a, namespace, body) => a.core.createNamespacedConfigMap({ namespace, body }),
    replace: (a, namespace, name, body) => a.core.replaceNamespacedConfigMap({ name, namespace, body }),
    remove: (a, namespace, name) => a.core.deleteNamespacedConfigMap({ name, namespace }),
  },
  // Cluster-scoped: the namespace argument is unused (the PV of a cluster's source, manifests/build.ts `buildSourceVolume`).
  PersistentVolume: {
    read: (a, _ns, name) => a.core.readPersistentVolume({ name }),
    create: (a, _ns, body) => a.core.createPersistentVolume({ body }),
    replace: (a, _ns, name, body) => a.core.replacePersistentVolume({ name, body }),
    remove: (a, _ns, name) => a.core.deletePersistentVolume({ name }),
  },
  PersistentVolumeClaim: {
    read: (a, namespace, name) => a.core.readNamespacedPersistentVolumeClaim({ name, namespace }),
    create: (a, namespace, body) => a.core.createNamespacedPersistentVolumeClaim({ namespace, body }),
    replace: (a, namespace, name, body) => a.core.replaceNamespacedPersistentVolumeClaim({ name, namespace, body }),
    remove: (a, namespace, name) => a.core.deleteNamespacedPersistentVolumeClaim({ name, namespace }),
  },
  Service: {
    read: (a, namespace, name) => a.core.readNamespacedService({ name, namespace }),
    create: (a, namespace, body) => a.core.createNamespacedService({ namespace, body }),
    replace: (a, namespace, name, body) => a.core.replaceNamespacedService({ name, namespace, body }),
    remove: (a, namespace, name) => a.core.deleteNamespacedService({ name, namespace }),
  },
  Deployment: {
    read: (a, namespace, name) => a.apps.readNamespacedDeployment({ name, namespace }),
    create: (a, namespace, body) => a.apps.createNamespacedDeployment({ namespace, body }),
    replace: (a, namespace, name, body) => a.apps.replaceNamespacedDeployment({ name, namespace, body }),
    remove: (a, namespace, name) => a.apps.deleteNamespacedDeployment({ name, namespace }),
  },
  DaemonSet: {
    read: (a, namespace, name) => a.apps.readNamespacedDaemonSet({ name, namespace }),
    create: (a, namespace, body) => a.apps.createNamespacedDaemonSet({ namespace, body }),
    replace: (a, namespace, name, body) => a.apps.replaceNamespacedDaemonSet({ name, namespace, body }),
    remove: (a, namespace, name) => a.apps.deleteNamespacedDaemonSet({ name, namespace }),
  },
  PodDisruptionBudget: {
    read: (a, namespace, name) => a.policy.readNamespacedPodDisruptionBudget({ name, namespace }),
    create: (a, namespace, body) => a.policy.createNamespacedPodDisruptionBudget({ namespace, body }),
    replace: (a, namespace, name, body) => a.policy.replaceNamespacedPodDisruptionBudget({ name, namespace, body }),
    remove: (a, namespace, name) => a.policy.deleteNamespacedPodDisruptionBudget({ name, namespace }),
  },
  Ingress: {
    read: (a, namespace, name) => a.networking.readNamespacedIngress({ name, namespace }),
    create: (a, namespace, body) => a.networking.createNamespacedIngress({ namespace, body }),
    replace: (a, namespace, name, body) => a.networking.replaceNamespacedIngress({ name, namespace, body }),
    remove: (a, namespace, name) => a.networking.deleteNamespacedIngress({ name, namespace }),
  },
};

function opsFor(kind: string): KindOps {
  const ops = (OPS as Record<string, KindOps | undefined>)[kind];
  if (!ops) throw new Error(`the EKS applier does not manage kind ${kind}`);
  return ops;
}

/**
 * client-node's models name a few fields differently from the wire
 * (`from` → `_from`, `default` → `_default`) and drop what they do not know,
 * so plain wire JSON is mapped to model attribute names before sending.
 */
export function toClientModel(obj: K8sObject): AnyObj {
  const out = JSON.parse(JSON.stringify(obj)) as AnyObj;
  if (out.kind === 'NetworkPolicy') {
    for (const rule of out.spec?.ingress ?? []) {
      if (rule.from !== undefined) {
        rule._from = rule.from;
        delete rule.from;
      }
    }
  }
  if (out.kind === 'LimitRange') {
    for (const item of out.spec?.limits ?? []) {
      if (item.default !== undefined) {
        item._default = item.default;
        delete item.default;
      }
    }
  }
  return out;
}

export function specHash(obj: K8sObject): string {
  return createHash('sha256').update(JSON.stringify(obj)).digest('hex');
}

export type ApplyOutcome = 'created' | 'updated' | 'unchanged';

export class KubeApplier {
  constructor(
    private readonly clients: KubeClients,
    private readonly maxConflictRetries = 5,
  ) {}

  /** Create the object, or replace it when its desired content changed. */
  async apply(obj: K8sObject): Promise<ApplyOutcome> {
    const apis = await this.clients.apis();
    const ops = opsFor(obj.kind);
    const namespace = obj.metadata.namespace ?? '';
    const name = obj.metadata.name;
    const hash = specHash(obj);
    const desired: K8sObject = {
      ...obj,
      metadata: { ...obj.metadata, annotations: { ...(obj.metadata.annotations ?? {}), [EKS_ANNOTATIONS.specHash]: hash } },
    };
    for (let attempt = 0; attempt <= this.maxConflictRetries; attempt += 1) {
      let current: AnyObj | undefined;
      try {
        current = await ops.read(apis, namespace, name);
      } catch (err) {
        if (apiStatus(err) !== 404) throw wrapApiError(err, `read ${obj.kind} ${namespace}/${name}`);
      }
      if (!current) {
        try {
          await ops.create(apis, namespace, toClientModel(desired));
          return 'created';
        } catch (err) {
          if (apiStatus(err) === 409) continue; // created concurrently: read it and compare
          // Our own create may have committed although its answer was lost (a 500 ServerTimeout, retried by
          // the client): the retry then meets admission first, e.g. a quota already charged for the object
          // (403 exceeded quota) before storage's AlreadyExists. The object as we wrote it is success.
          if (await this.holds(ops, apis, namespace, name, hash)) return 'created';
          throw wrapApiError(err, `create ${obj.kind} ${namespace}/${name}`);
        }
      }
      if (current.metadata?.annotations?.[EKS_ANNOTATIONS.specHash] === hash) return 'unchanged';
      const body = toClientModel(desired);
      body.metadata.resourceVersion = current.metadata?.resourceVersion;
      if (obj.kind === 'Service') {
        body.spec = { ...body.spec, clusterIP: current.spec?.clusterIP, clusterIPs: current.spec?.clusterIPs };
      }
      try {
        await ops.replace(apis, namespace, name, body);
        return 'updated';
      } catch (err) {
        if (apiStatus(err) === 409) continue; // stale resourceVersion: re-read and retry
        throw wrapApiError(err, `replace ${obj.kind} ${namespace}/${name}`);
      }
    }
    throw new KubernetesConflictError(`${obj.kind} ${namespace}/${name} kept changing while being updated`);
  }

  /** Whether the object exists with exactly this spec hash (a write of ours landed). */
  private async holds(ops: ReturnType<typeof opsFor>, apis: KubeApis, namespace: string, name: string, hash: string): Promise<boolean> {
    try {
      const current = await ops.read(apis, namespace, name);
      return current?.metadata?.annotations?.[EKS_ANNOTATIONS.specHash] === hash;
    } catch {
      return false;
    }
  }

  /**
   * Delete; a missing object is success. Returns false when it was already
   * gone or going. A namespace already terminating answers 409 Conflict
   * while its finalizers run (pkg/registry/core/namespace/storage/storage.go
   * `Delete`): our earlier delete (its answer lost, or a redelivered
   * teardown) is under way, which is success too.
   */
  async remove(kind: AppliedKind, namespace: string, name: string): Promise<boolean> {
    const apis = await this.clients.apis();
    try {
      await opsFor(kind).remove(apis, namespace, name);
      return true;
    } catch (err) {
      if (apiStatus(err) === 404) return false;
      if (kind === 'Namespace' && apiStatus(err) === 409) {
        const current = await this.read('Namespace', '', name);
        if (!current || current.metadata?.deletionTimestamp) return false;
      }
      throw wrapApiError(err, `delete ${kind} ${namespace}/${name}`);
    }
  }

  async read(kind: AppliedKind, namespace: string, name: string): Promise<AnyObj | undefined> {
    const apis = await this.clients.apis();
    try {
      return await opsFor(kind).read(apis, namespace, name);
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw wrapApiError(err, `read ${kind} ${namespace}/${name}`);
    }
  }
}
