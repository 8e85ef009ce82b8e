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
import { KubernetesApiError, KubernetesConflictError } from './errors.ts';
import { EKS_ANNOTATIONS } from './manifests/naming.ts';
import type { K8sObject, ManagedKind } from './manifests/types.ts';

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
    const retry = typeof t === 'function' ? t : undefined;
    this.cached = {
      core: retrying(kc.makeApiClient(CoreV1Api), retry),
      apps: retrying(kc.makeApiClient(AppsV1Api), retry),
      batch: retrying(kc.makeApiClient(BatchV1Api), retry),
      rbac: retrying(kc.makeApiClient(RbacAuthorizationV1Api), retry),
      networking: retrying(kc.makeApiClient(NetworkingV1Api), retry),
      policy: retrying(kc.makeApiClient(PolicyV1Api), retry),
    };
    return this.cached;
  }
}

/** Wrap an API client so a 401 refreshes the token source and retries the call once. */
function retrying<T extends object>(api: T, source: TokenSource | undefined): T {
  if (!source) return api;
  return new Proxy(api, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (err) {
          if (apiStatus(err) !== 401 || !source.invalidate) throw err;
          source.invalidate();
          return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        }
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

const OPS: Record<ManagedKind, KindOps> = {
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

  /** Delete; a missing object is success. Returns false when it was already gone. */
  async remove(kind: ManagedKind, namespace: string, name: string): Promise<boolean> {
    const apis = await this.clients.apis();
    try {
      await opsFor(kind).remove(apis, namespace, name);
      return true;
    } catch (err) {
      if (apiStatus(err) === 404) return false;
      throw wrapApiError(err, `delete ${kind} ${namespace}/${name}`);
    }
  }

  async read(kind: ManagedKind, namespace: string, name: string): Promise<AnyObj | undefined> {
    const apis = await this.clients.apis();
    try {
      return await opsFor(kind).read(apis, namespace, name);
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw wrapApiError(err, `read ${kind} ${namespace}/${name}`);
    }
  }
}
