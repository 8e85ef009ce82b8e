import { isoAt, type Clock } from '../shared/core/clock.ts';
import type { IdGenerator } from '../shared/core/ids.ts';
import { silentLogger, type Logger } from '../shared/core/logger.ts';
import { ValidationError } from '../shared/core/errors.ts';
import type { ClusterRecord, ClusterStatus } from '../shared/lifecycle/types.ts';
import type { ClusterView, CreateClusterResult, EstimateResult } from '../shared/api/views.ts';
import { CLUSTER_STATUSES } from '../shared/lifecycle/types.ts';
import { deleteTarget, initialChange, namespaceFor, newClusterRecord, revise, transition } from '../shared/lifecycle/machine.ts';
import type { ClusterStore } from '../shared/ports/cluster-store.ts';
import type { WorkQueue } from '../shared/ports/work-queue.ts';
import { ClusterNotFoundError, VersionConflictError } from '../shared/ports/errors.ts';
import { resolveSpec } from '../shared/spec/resolve.ts';
import { listTemplates } from '../shared/spec/templates.ts';
import { planCluster, type PlanOptions } from '../shared/plan/planner.ts';
import type { PriceTable } from '../shared/catalog/prices.ts';
import { knownRegions } from '../shared/catalog/instances.ts';
import { reapAt } from '../shared/harvest/plan.ts';
import { startTimeline } from '../shared/lifecycle/start-timeline.ts';
import { DEFAULT_HARVEST_CONFIG, type HarvestConfig } from '../shared/harvest/types.ts';
import { QuotaPolicy } from '../shared/quota/config.ts';
import { pageNewestFirst, type PageRequest } from '../shared/api/pagination.ts';
import { hourlyRate, rateChangedAt } from '../shared/cost/accrual.ts';
import { QuotaExceededError } from '../shared/quota/errors.ts';
import { KubectlEditPolicy } from '../shared/access/kubectl-edit.ts';
import { ClientTokenReuseError, ClusterBusyError, ClusterNotScalableError, ForbiddenError, KubectlAccessUnavailableError, KubectlEditForbiddenError } from './errors.ts';
import { DEFAULT_VERSION_RETRIES, withVersionRetry } from './version-retry.ts';

/**
 * The control-plane use cases behind the cluster API: pure orchestration over
 * the `ClusterStore` and `WorkQueue` ports with an injected clock and ids.
 * Handlers (`functions/*.ts`) parse and validate the HTTP request, call one of
 * these, and serialise the result.
 *
 * Visibility: a cluster is visible to its owner and to admins; anyone else
 * gets `ClusterNotFoundError` (404), exactly as for a missing id.
 * Connection details (`connection`) go to the owner only; admins see the
 * record without the token.
 */

/** Who is calling, as derived from the IAM principal (or the OS user locally). */
export interface Caller {
  user: string;
  admin: boolean;
  /** The full IAM principal ARN the user was mapped from (recorded on clusters it creates). */
  principalArn?: string;
  /**
   * Set when a cluster's own process (a job run's driver) calls for the owner:
   * it may reach this one cluster only (functions/commons/cluster-caller.ts).
   */
  cluster?: string;
}

export interface ClusterServiceDeps {
  store: ClusterStore;
  queue: WorkQueue;
  clock: Clock;
  ids: IdGenerator;
  logger?: Logger;
  /**
   * Extra conditional-write attempts after a lost race before answering 409
   * (the policy is `withVersionRetry`'s). @default DEFAULT_VERSION_RETRIES
   */
  maxConflictRetries?: number;
  /**
   * A repeated create (same clientToken) re-sends the provisioning message when
   * the cluster is still REQUESTED this long after it was created, in case the
   * first send was lost. @default 30000
   */
  requeueRequestedAfterMs?: number;
  /** Where template YAML files are (Lambda: `<task root>/templates`). @default the repository's `templates/` */
  templatesDir?: string;
  /**
   * The harvester's settings (read once at cold start with `harvestConfigFromEnv`),
   * used to tell callers when an idle cluster will be reaped. @default DEFAULT_HARVEST_CONFIG
   */
  harvest?: HarvestConfig;
  /**
   * Per-user and per-group quotas (read once with `quotaPolicyFromEnv`).
   * Creates and scale-ups must fit; the store enforces it atomically.
   * @default QuotaPolicy.defaults() (the built-in user limits)
   */
  quotas?: QuotaPolicy;
  /** EC2 prices from the Price List API cache (adapters/pricing); plans fall back to the static dated table. */
  prices?: PriceTable;
  /** Who may have kubectl `--edit` (read once with `kubectlEditPolicyFromEnv`). @default nobody */
  kubectlEdit?: KubectlEditPolicy;
}

export interface ScaleOptions {
  /** Workers to stop first (named by the scheduler after retiring them gracefully). */
  retire?: readonly string[];
  /** Clamp the count to the adaptive bounds and the quota instead of refusing it. */
  clamp?: boolean;
}

/** Names of retired workers kept on a record for the backend (a bound on a scheduler gone wrong). */
export const MAX_RETIRE = 100;

/** The count a scale asks for, checked (or clamped) against the spec: adaptive bounds, or ≥ 1. */
export function workerCountFor(record: ClusterRecord, n: number, clamp: boolean): number {
  const a = record.spec.adaptive;
  const [min, max] = a ? [a.minimum, a.maximum] : [1, Number.MAX_SAFE_INTEGER];
  if (n >= min && n <= max) return n;
  if (clamp) return Math.min(max, Math.max(min, n));
  const message = a ? `must be from adaptive.minimum (${min}) to adaptive.maximum (${max}) on this adaptive cluster (got ${n})` : `must be a positive whole number (got ${n})`;
  throw new ValidationError('invalid worker count', [{ path: 'nWorkers', message }]);
}

/** Statuses in which `PATCH {nWorkers}` is accepted. */
export const SCALABLE_STATUSES: readonly ClusterStatus[] = ['REQUESTED', 'PROVISIONING', 'RUNNING'];

export interface CreateClusterInput {
  template?: string;
  /** Spec fields to override (validated by `resolveSpec`, unknown names rejected). */
  overrides?: Record<string, unknown>;
  name?: string;
  job?: string;
  clientToken?: string;
}

/** What `caller` may see of `record`: the owner sees everything, an admin sees no token. */
export function viewFor(record: ClusterRecord, caller: Caller, harvest: HarvestConfig = DEFAULT_HARVEST_CONFIG): ClusterView {
  const forecast = reapAt(record, harvest);
  const timeline = startTimeline(record);
  const reap = { reapAt: forecast?.at ?? null, reapReason: forecast?.reason ?? null, ...(timeline ? { startTimeline: timeline } : {}) };
  if (record.owner === caller.user || !record.connection) return { ...record, ...reap };
  const { token: _token, ...rest } = record.connection;
  return { ...record, connection: rest, ...reap };
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export class ClusterService {
  private readonly store: ClusterStore;
  private readonly queue: WorkQueue;
  private readonly clock: Clock;
  private readonly ids: IdGenerator;
  private readonly logger: Logger;
  private readonly maxConflictRetries: number;
  private readonly requeueRequestedAfterMs: number;
  private readonly templatesDir: string | undefined;
  private readonly harvest: HarvestConfig;
  private readonly quotas: QuotaPolicy;
  private readonly planOptions: PlanOptions;
  private readonly kubectlEdit: KubectlEditPolicy;

  constructor(deps: ClusterServiceDeps) {
    // Priced in the cached table's region (the stage's) when it is one the catalog knows; otherwise the static us-east-1 table as before.
    this.planOptions = deps.prices && knownRegions().includes(deps.prices.region) ? { prices: deps.prices, region: deps.prices.region } : {};
    this.store = deps.store;
    this.queue = deps.queue;
    this.clock = deps.clock;
    this.ids = deps.ids;
    this.logger = deps.logger ?? silentLogger;
    this.maxConflictRetries = deps.maxConflictRetries ?? DEFAULT_VERSION_RETRIES;
    this.requeueRequestedAfterMs = deps.requeueRequestedAfterMs ?? 30_000;
    this.templatesDir = deps.templatesDir;
    this.harvest = deps.harvest ?? DEFAULT_HARVEST_CONFIG;
    this.quotas = deps.quotas ?? QuotaPolicy.defaults();
    this.kubectlEdit = deps.kubectlEdit ?? KubectlEditPolicy.none();
  }

  /** The plan and $/hour for a spec; creates nothing. */
  estimate(input: { template?: string; overrides?: Record<string, unknown> }): EstimateResult {
    const spec = resolveSpec(
      { ...(input.template === undefined ? {} : { template: input.template }), overrides: input.overrides ?? {} },
      this.specOptions(),
    );
    return { spec, plan: planCluster(spec, this.planOptions) };
  }

  templates(): ReturnType<typeof listTemplates> {
    return this.templatesDir === undefined ? listTemplates() : listTemplates(this.templatesDir);
  }

  private specOptions(): { templatesDir?: string } {
    return this.templatesDir === undefined ? {} : { templatesDir: this.templatesDir };
  }

  /**
   * Create a cluster in REQUESTED and ask the provisioner to start it.
   * Idempotent per (owner, clientToken): a repeat returns the same cluster.
   */
  async create(caller: Caller, input: CreateClusterInput): Promise<CreateClusterResult> {
    const overrides: Record<string, unknown> = { ...(input.overrides ?? {}) };
    if (input.name !== undefined) overrides.name = input.name;
    if (input.job !== undefined) overrides.job = input.job;
    const { spec, plan } = this.estimate({ ...(input.template === undefined ? {} : { template: input.template }), overrides });

    const id = this.ids.next('c');
    const at = isoAt(this.clock);
    const quotaScopes = this.quotas.scopesFor(caller.user);
    const record = newClusterRecord({
      id,
      owner: caller.user,
      spec,
      plan,
      at,
      namespace: namespaceFor(caller.user, id),
      ...(input.template === undefined ? {} : { template: input.template }),
      ...(input.clientToken === undefined ? {} : { clientToken: input.clientToken }),
      ...(caller.principalArn === undefined ? {} : { principalArn: caller.principalArn }),
      quotaScopes,
    });
    const change = initialChange(record, { actor: caller.user, reason: 'requested' });
    // The usage of every scope is updated in the same atomic write as the record (QuotaExceededError, 403, when it does not fit).
    const stored = await this.store.create(record, change, { quota: this.quotas.limitsOfScopes(quotaScopes) });
    const cluster = stored.record;
    if (stored.created) {
      await this.queue.send({ clusterId: cluster.id, cause: 'created' });
      this.logger.info('cluster requested', { clusterId: cluster.id, owner: cluster.owner, principalArn: cluster.principalArn, workers: spec.nWorkers });
    } else {
      if (canonical(cluster.spec) !== canonical(spec) || (cluster.template ?? null) !== (input.template ?? null)) {
        throw new ClientTokenReuseError(cluster.id);
      }
      const age = this.clock.now() - Date.parse(cluster.createdAt);
      if (cluster.status === 'REQUESTED' && age >= this.requeueRequestedAfterMs) {
        // The first request may have stored the record and died before sending; the provisioner step is idempotent.
        await this.queue.send({ clusterId: cluster.id, cause: 'requeue' });
      }
    }
    return {
      cluster: viewFor(cluster, caller, this.harvest),
      plan: cluster.plan,
      estimate: {
        costPerHour: cluster.plan.costPerHour,
        costPerWorkerHour: cluster.plan.costPerWorkerHour,
        priceSource: cluster.plan.priceSource,
      },
      created: stored.created,
    };
  }

  /** One cluster. Counts as activity when the owner asks. */
  async get(caller: Caller, id: string): Promise<ClusterView> {
    const record = await this.visible(caller, id);
    if (record.owner !== caller.user) return viewFor(record, caller, this.harvest);
    const touched = await this.store.touch(id, { activityAt: isoAt(this.clock) });
    return viewFor(touched ?? record, caller, this.harvest);
  }

  /** The caller's clusters, newest first; `all` (every owner) needs an admin role. */
  async list(caller: Caller, options: { all?: boolean; status?: ClusterStatus } = {}): Promise<ClusterView[]> {
    if (options.status !== undefined && !CLUSTER_STATUSES.includes(options.status)) {
      throw new ValidationError('invalid status filter', [{ path: 'status', message: `must be one of ${CLUSTER_STATUSES.join(', ')}` }]);
    }
    const filter = options.status === undefined ? {} : { status: options.status };
    if (options.all) {
      if (!caller.admin) {
        throw new ForbiddenError('listing every user\'s clusters needs an admin role', [
          { path: 'all', message: 'only admins may list all clusters' },
        ]);
      }
      return (await this.store.listAll(filter)).map((r) => viewFor(r, caller, this.harvest));
    }
    return (await this.store.listByOwner(caller.user, filter)).map((r) => viewFor(r, caller, this.harvest));
  }

  /** One page of `list` (issue 17 #11): `limit` (1..1000, default 100) and the `nextToken` of the previous page. */
  async listPage(caller: Caller, options: { all?: boolean; status?: ClusterStatus } & PageRequest = {}): Promise<{ clusters: ClusterView[]; nextToken: string | null }> {
    const { limit, nextToken, ...filter } = options;
    const page = pageNewestFirst(await this.list(caller, filter), { ...(limit === undefined ? {} : { limit }), ...(nextToken === undefined ? {} : { nextToken }) });
    return { clusters: page.items, nextToken: page.nextToken };
  }

  /**
   * Ask for deletion (202). Idempotent: DELETED and FAILED clusters are
   * returned as they are; a cluster already DELETING gets its provisioning
   * message re-sent (teardown is idempotent) and no write.
   */
  async delete(caller: Caller, id: string): Promise<ClusterView> {
    const record = await this.mutate(caller, id, (current) => {
      if (deleteTarget(current.status) === undefined) return undefined;
      const at = isoAt(this.clock);
      return transition(current, 'DELETING', {
        actor: caller.user,
        reason: current.owner === caller.user ? 'deleted by owner' : `deleted by admin ${caller.user}`,
        at,
        patch: { lastActivityAt: at > current.lastActivityAt ? at : current.lastActivityAt },
      });
    });
    if (record.status === 'DELETING') {
      await this.queue.send({ clusterId: id, cause: 'delete-requested' });
      this.logger.info('cluster delete requested', { clusterId: id, owner: record.owner });
    }
    return viewFor(record, caller, this.harvest);
  }

  /**
   * Change the number of workers (202); only while REQUESTED, PROVISIONING or
   * RUNNING. `retire` names workers the backend stops first (the scheduler
   * retired them gracefully: they hold nothing). On an adaptive cluster the
   * count must lie within its bounds; with `clamp` (the scheduler's requests)
   * it is clamped to them instead, and a scale-up that would break a quota
   * is lowered until it fits (down to the current count).
   */
  async scale(caller: Caller, id: string, nWorkers: number, options: ScaleOptions = {}): Promise<ClusterView> {
    if (!Number.isSafeInteger(nWorkers) || nWorkers < 0) {
      throw new ValidationError('invalid worker count', [{ path: 'nWorkers', message: 'must be a whole number, 0 or more' }]);
    }
    const retire = options.retire ?? [];
    let wanted = nWorkers;
    for (;;) {
      let changed = false;
      let applied = wanted;
      try {
        const record = await this.mutate(caller, id, (current) => {
          if (!SCALABLE_STATUSES.includes(current.status)) throw new ClusterNotScalableError(id, current.status, SCALABLE_STATUSES);
          changed = false;
          applied = workerCountFor(current, wanted, options.clamp === true);
          if (current.desiredWorkers === applied && retire.length === 0) return undefined;
          // Re-validate and re-plan the spec at the new size, so limits and the $/hour stay honest (a spec has ≥ 1 worker).
          const spec = resolveSpec({ overrides: { ...current.spec, nWorkers: Math.max(1, applied) } }, this.specOptions());
          const plan = planCluster(spec, this.planOptions);
          const at = isoAt(this.clock);
          changed = true;
          return {
            next: revise(current, {
              at,
              patch: {
                spec,
                plan,
                desiredWorkers: applied,
                // The cost so far at the old rate; the new rate from now on (accrual follows the worker count).
                ...(current.provisioningAt ? { cost: rateChangedAt(current, this.clock.now(), hourlyRate(plan, applied)) } : {}),
                ...(retire.length > 0 ? { retireWorkers: [...new Set([...(current.retireWorkers ?? []), ...retire])].slice(-MAX_RETIRE) } : {}),
                lastActivityAt: at > current.lastActivityAt ? at : current.lastActivityAt,
              },
            }),
          };
        });
        if (changed) {
          await this.queue.send({ clusterId: id, cause: 'scale' });
          this.logger.info('cluster scale requested', { clusterId: id, owner: record.owner, workers: applied, ...(retire.length > 0 ? { retire } : {}) });
        }
        return viewFor(record, caller, this.harvest);
      } catch (err) {
        // A clamped scale-up over a quota: try one fewer (the store's atomic check stays the judge).
        if (!(err instanceof QuotaExceededError) || options.clamp !== true || applied <= 0) throw err;
        const current = await this.store.get(id);
        if (!current || applied - 1 < current.desiredWorkers) throw err;
        wanted = applied - 1;
      }
    }
  }

  /**
   * kubectl `--edit` for the owner on one running cluster (issue 21 #3):
   * pods/exec and deleting pods in its namespace, granted by the provisioner
   * on the backend (202). Only the owner, acting as themself, may ask, and
   * only when the stage's policy lists them (403 with what to do); another
   * user's cluster is 404 as everywhere. Asking again changes nothing.
   */
  async grantKubectlEdit(caller: Caller, id: string): Promise<ClusterView> {
    let changed = false;
    const record = await this.mutate(caller, id, (current) => {
      changed = false;
      if (caller.cluster !== undefined) throw new KubectlEditForbiddenError("a cluster's own pods cannot ask for kubectl access; run recc cluster kubeconfig --edit as the cluster's owner");
      if (current.owner !== caller.user) {
        throw new KubectlEditForbiddenError(`kubectl edit is granted to a cluster's owner only (${current.owner}); admins use their own cluster access`);
      }
      if (!this.kubectlEdit.allows(caller.user, this.quotas)) {
        throw new KubectlEditForbiddenError(
          `${caller.user} may not have kubectl edit access: the stage allows it only for the users and groups in RECC_KUBECTL_EDIT (stage parameter kubectlEdit); ask the platform administrator, or use read-only access without --edit`,
        );
      }
      if (current.status !== 'RUNNING') throw new KubectlAccessUnavailableError(id, current.status);
      if (current.kubectlEditAt !== undefined) return undefined;
      changed = true;
      return { next: revise(current, { at: isoAt(this.clock), patch: { kubectlEditAt: isoAt(this.clock) } }) };
    });
    // Sent on every allowed ask, not only the first: a lost message is re-sent by asking again (the grant is idempotent).
    await this.queue.send({ clusterId: id, cause: 'kubectl-edit' });
    if (changed) this.logger.info('kubectl edit requested', { clusterId: id, owner: record.owner, namespace: record.namespace });
    return viewFor(record, caller, this.harvest);
  }

  /** The client is alive: records a heartbeat and activity (no version bump). */
  async heartbeat(caller: Caller, id: string): Promise<ClusterView> {
    await this.visible(caller, id);
    const at = isoAt(this.clock);
    const touched = await this.store.touch(id, { activityAt: at, heartbeatAt: at });
    if (!touched) throw new ClusterNotFoundError(id, { details: [{ path: 'id', message: 'no such cluster' }] });
    return viewFor(touched, caller, this.harvest);
  }

  /** The record if `caller` may see it, else ClusterNotFoundError (also for another user's cluster). */
  private async visible(caller: Caller, id: string): Promise<ClusterRecord> {
    const record = await this.store.get(id);
    if (!record || (record.owner !== caller.user && !caller.admin)) {
      throw new ClusterNotFoundError(id, { details: [{ path: 'id', message: 'no such cluster' }] });
    }
    return record;
  }

  /**
   * Read-decide-write with optimistic concurrency: `decide` returns the next
   * record (and a status change) or undefined for no write. A lost race
   * re-reads and re-runs `decide` under `withVersionRetry`'s policy; when the
   * retries run out the caller gets ClusterBusyError (409).
   */
  private async mutate(
    caller: Caller,
    id: string,
    decide: (current: ClusterRecord) => { next: ClusterRecord; change?: Parameters<ClusterStore['put']>[2] } | undefined,
  ): Promise<ClusterRecord> {
    let attempts = 0;
    try {
      return await withVersionRetry(
        async () => {
          attempts += 1;
          const current = await this.visible(caller, id);
          const decision = decide(current);
          if (!decision) return current;
          // A scale-up must fit the quotas of the scopes the cluster was charged to.
          return this.store.put(decision.next, current.version, decision.change, { quota: this.quotas.limitsOfScopes(current.quotaScopes ?? []) });
        },
        {
          retries: this.maxConflictRetries,
          onConflict: (_conflict, attempt) => this.logger.debug('lost a write race; retrying', { clusterId: id, attempt }),
        },
      );
    } catch (err) {
      if (err instanceof VersionConflictError) throw new ClusterBusyError(id, attempts, { cause: err });
      throw err;
    }
  }
}
