import type { Clock } from '../shared/core/clock.ts';
import { ReccError } from '../shared/core/errors.ts';
import type { Logger } from '../shared/core/logger.ts';
import { renderCluster, schedulerDnsNames, type RenderOptions } from '../shared/definition/render.ts';
import { SECRET_FILES, type ClusterDefinition, type ClusterSecrets } from '../shared/definition/types.ts';
import { transition } from '../shared/lifecycle/machine.ts';
import type { ClusterRecord, ClusterStatus, StatusChange } from '../shared/lifecycle/types.ts';
import { QUEUE_ENV, type ClusterQueueSet, type ClusterQueues } from '../shared/ports/cluster-queues.ts';
import type { ClusterStore } from '../shared/ports/cluster-store.ts';
import type { ComponentFailure, ComputeBackend, ScaleOptions } from '../shared/ports/compute-backend.ts';
import type { ProvisionMessage, WorkQueue } from '../shared/ports/work-queue.ts';
import { DEFAULT_VERSION_RETRIES, withVersionRetry } from './version-retry.ts';

/**
 * The provisioner: advances ONE cluster by ONE idempotent step per queue
 * message (level-triggered, like a controller-runtime reconciler).
 *
 *   REQUESTED    → write PROVISIONING, render + apply, re-queue with a delay
 *   PROVISIONING → observe: ready → RUNNING (with the connection);
 *                  permanent failure or deadline → tear down, FAILED (reason);
 *                  otherwise re-apply if the backend lost it, scale if the
 *                  desired count changed, re-queue with a delay
 *   RUNNING      → scale when desiredWorkers differs from the backend;
 *                  grant kubectl edit when the record says the owner may
 *   DELETING     → tear down; DELETED once the backend holds nothing
 *   DELETED / FAILED → nothing
 *
 * With `queues` (issue 12), the cluster's SQS request queue and DLQ are
 * ensured before every apply (their URLs and the S3 payload location go into
 * the scheduler's env, `QUEUE_ENV`), copied into the connection at RUNNING,
 * and deleted with every teardown (reply queues included).
 *
 * Every step starts by reading the stored record (delivery is at least once),
 * every write is conditional on its version, and a lost race re-reads and
 * retries the step, so a delete that lands during provisioning wins. Waiting
 * is always a delayed message, never a sleep.
 */
export interface ProvisionerConfig {
  /** Delay between observations while provisioning or deleting. @default 5 */
  pollDelaySeconds: number;
  /** A cluster not RUNNING this long after entering PROVISIONING is FAILED. @default 20 min */
  provisioningTimeoutMs: number;
  /** A teardown that has not finished after this long is FAILED. @default 20 min */
  deletionTimeoutMs: number;
  /** Options for `renderCluster` (image, ports, mount path). */
  render?: RenderOptions;
  /** Lines of a failing component's log kept in the reason. @default 20 */
  logTailLines: number;
  /**
   * Further attempts of a step after its conditional write lost a race (the
   * policy is `withVersionRetry`'s); past them the message is redelivered.
   * @default DEFAULT_VERSION_RETRIES
   */
  maxConflictRetries: number;
}

export const DEFAULT_PROVISIONER_CONFIG: ProvisionerConfig = {
  pollDelaySeconds: 5,
  provisioningTimeoutMs: 20 * 60_000,
  deletionTimeoutMs: 20 * 60_000,
  logTailLines: 20,
  maxConflictRetries: DEFAULT_VERSION_RETRIES,
};

export interface ProvisionerDeps {
  store: ClusterStore;
  queue: WorkQueue;
  backend: ComputeBackend;
  /** Makes new secret material for a cluster (adapters/secrets `generateClusterSecrets`). */
  generateSecrets: (definition: ClusterDefinition) => Promise<ClusterSecrets>;
  /** Per-cluster SQS queues (the route for clients outside the cluster network); none when absent. */
  queues?: ClusterQueues;
  /**
   * Where an adaptive cluster's scheduler reaches the control plane's scale
   * API (RECC_API_URL, and RECC_API_TOKEN on a local stack started with one);
   * read at each apply, for the cluster being applied (on EKS the scheduler
   * proves that cluster with its token file: `scaleClusterEnv`). Without it
   * an adaptive scheduler only retires workers.
   */
  controlPlaneEnv?: (definition: ClusterDefinition) => Readonly<Record<string, string>>;
  /** Extra scheduler env for the SQS route, e.g. the emulator endpoints of the local stack. */
  queueEnv?: Readonly<Record<string, string>>;
  clock: Clock;
  logger: Logger;
  config?: Partial<ProvisionerConfig>;
}

export type StepAction =
  | 'missing'
  | 'terminal'
  | 'applied'
  | 'waiting'
  | 'running'
  | 'scaled'
  | 'in-sync'
  | 'tearing-down'
  | 'deleted'
  | 'failed';

export interface StepResult {
  clusterId: string;
  action: StepAction;
  status?: ClusterStatus;
  /** Set when a follow-up message was queued. */
  requeueAfterSeconds?: number;
  reason?: string;
}

export const PROVISIONER_ACTOR = 'provisioner';

/** Generate default secrets covering the in-cluster service names (used by adapters that wire the provisioner). */
export function secretsRequestFor(definition: ClusterDefinition): { clusterId: string; dnsNames: string[] } {
  return { clusterId: definition.clusterId, dnsNames: schedulerDnsNames(definition.namespace, definition.schedulerService.name) };
}

export class Provisioner {
  private readonly config: ProvisionerConfig;

  constructor(private readonly deps: ProvisionerDeps) {
    this.config = { ...DEFAULT_PROVISIONER_CONFIG, ...deps.config };
  }

  /** Handle one queue message. Throws only on retryable problems (the message is then redelivered). */
  async handle(message: ProvisionMessage): Promise<StepResult> {
    const log = this.deps.logger.child({ clusterId: message.clusterId, cause: message.cause });
    // A lost race: somebody changed the record meanwhile; re-read and redo the step.
    // Past the retries the conflict propagates and the message is redelivered.
    return withVersionRetry(
      async () => {
        const record = await this.deps.store.get(message.clusterId);
        if (record === undefined) {
          log.warn('provisioner: no such cluster; dropping the message');
          return { clusterId: message.clusterId, action: 'missing' as const };
        }
        const result = await this.step(record);
        // Issue 21: a line about a cluster names its user, namespace and job too, as the pods' lines do.
        log.info('provisioner step', {
          user: record.owner,
          namespace: record.namespace,
          ...(record.job !== undefined ? { job: record.job } : {}),
          status: record.status,
          action: result.action,
          next: result.status,
          requeueAfterSeconds: result.requeueAfterSeconds,
        });
        return result;
      },
      {
        retries: this.config.maxConflictRetries,
        onConflict: (_conflict, attempt) => log.info('provisioner: lost a race, re-reading', { attempt }),
      },
    );
  }

  private async step(record: ClusterRecord): Promise<StepResult> {
    switch (record.status) {
      case 'REQUESTED':
        return this.startProvisioning(record);
      case 'PROVISIONING':
        return this.checkProvisioning(record);
      case 'RUNNING':
        return this.syncRunning(record);
      case 'DELETING':
        return this.tearDown(record);
      case 'DELETED':
      case 'FAILED':
        return { clusterId: record.id, action: 'terminal', status: record.status };
    }
  }

  private definitionFor(record: ClusterRecord): ClusterDefinition {
    const definition = this.renderFor(record);
    const extra = record.spec.adaptive ? Object.entries(this.deps.controlPlaneEnv?.(definition) ?? {}).filter(([, v]) => v !== '') : [];
    if (extra.length === 0) return definition;
    const names = new Set(extra.map(([n]) => n));
    const env = [...definition.scheduler.env.filter((e) => !names.has(e.name)), ...extra.map(([name, value]) => ({ name, value }))];
    return { ...definition, scheduler: { ...definition.scheduler, env } };
  }

  private renderFor(record: ClusterRecord): ClusterDefinition {
    return renderCluster(
      {
        clusterId: record.id,
        owner: record.owner,
        namespace: record.namespace,
        ...(record.job !== undefined ? { job: record.job } : {}),
        spec: record.spec,
        plan: record.plan,
        desiredWorkers: record.desiredWorkers,
      },
      // The backend's configured image (digest-pinned on EKS) unless the spec names one.
      { ...(this.deps.backend.defaultImage !== undefined ? { defaultImage: this.deps.backend.defaultImage } : {}), ...this.config.render },
    );
  }

  /** Ensure the cluster's queues and give the scheduler their coordinates (idempotent). */
  private async withQueues(record: ClusterRecord, definition: ClusterDefinition): Promise<ClusterDefinition> {
    const queues = await this.ensureQueues(record);
    if (!queues) return definition;
    const route: Record<string, string> = {
      ...this.deps.queueEnv,
      [QUEUE_ENV.requestQueueUrl]: queues.requestQueueUrl,
      [QUEUE_ENV.deadLetterQueueUrl]: queues.deadLetterQueueUrl,
      [QUEUE_ENV.queuePrefix]: this.deps.queues?.prefix ?? '',
      // The partition of the bridge's submission record when it is kept in DynamoDB (the scheduler role is scoped to it).
      RECC_SQS_STORE_NAMESPACE: record.namespace,
      ...(queues.payload ? { [QUEUE_ENV.payloadBucket]: queues.payload.bucket, [QUEUE_ENV.payloadPrefix]: queues.payload.prefix } : {}),
    };
    const env = [...definition.scheduler.env.filter((e) => !(e.name in route)), ...Object.entries(route).map(([name, value]) => ({ name, value }))];
    return { ...definition, scheduler: { ...definition.scheduler, env } };
  }

  private async ensureQueues(record: ClusterRecord): Promise<ClusterQueueSet | undefined> {
    if (!this.deps.queues) return undefined;
    return this.deps.queues.ensureClusterQueues({
      clusterId: record.id,
      owner: record.owner,
      namespace: record.namespace,
      ...(record.job !== undefined ? { job: record.job } : {}),
    });
  }

  /** Remove everything the cluster holds: the backend's resources, then its queues. */
  private async teardownAll(clusterId: string): Promise<void> {
    await this.deps.backend.teardown(clusterId);
    await this.deps.queues?.deleteClusterQueues(clusterId);
  }

  private async secretsFor(definition: ClusterDefinition): Promise<ClusterSecrets> {
    const existing = await this.deps.backend.readSecrets?.(definition.clusterId);
    return existing ?? (await this.deps.generateSecrets(definition));
  }

  private async startProvisioning(record: ClusterRecord): Promise<StepResult> {
    const at = this.now();
    let definition: ClusterDefinition;
    try {
      definition = this.definitionFor(record);
    } catch (err) {
      if (err instanceof ReccError && err.exposable) return this.fail(record, `the cluster cannot be rendered: ${err.message}`, false);
      throw err;
    }
    const { next, change } = transition(record, 'PROVISIONING', { actor: PROVISIONER_ACTOR, at });
    const stored = await this.save(next, record.version, change);
    return this.apply(stored, definition);
  }

  private async apply(record: ClusterRecord, rendered: ClusterDefinition): Promise<StepResult> {
    try {
      const definition = await this.withQueues(record, rendered);
      await this.deps.backend.apply(definition, await this.secretsFor(definition));
    } catch (err) {
      if (err instanceof ReccError && err.exposable) {
        return this.fail(record, `the backend refused the cluster: ${err.message}`, true);
      }
      throw err;
    }
    // A delete may have landed while we applied; if the record already
    // finished, nobody else will remove what we just made.
    const after = await this.deps.store.get(record.id);
    if (after !== undefined && (after.status === 'DELETED' || after.status === 'FAILED')) {
      await this.teardownAll(record.id);
      return { clusterId: record.id, action: 'terminal', status: after.status };
    }
    return this.requeue(record, 'applied', 'PROVISIONING');
  }

  private async checkProvisioning(record: ClusterRecord): Promise<StepResult> {
    const observation = await this.deps.backend.observe(record.id);
    const permanent = observation.failures.find((f) => f.permanent);
    if (permanent) return this.fail(record, describeFailure(permanent, this.config.logTailLines), true);

    if (observation.exists && observation.ready) {
      const secrets = await this.deps.backend.readSecrets?.(record.id);
      if (secrets === undefined || observation.schedulerAddress === undefined) {
        return this.fail(record, 'the cluster came up but its connection details are missing (scheduler address or token); recreate the cluster', true);
      }
      const queues = await this.ensureQueues(record);
      const { next, change } = transition(record, 'RUNNING', {
        actor: PROVISIONER_ACTOR,
        at: this.now(),
        patch: {
          connection: {
            schedulerAddress: observation.schedulerAddress,
            ...(observation.dashboardUrl !== undefined ? { dashboardUrl: observation.dashboardUrl } : {}),
            token: secrets.token,
            caPem: secrets.caCertPem,
            ...(queues ? { requestQueueUrl: queues.requestQueueUrl } : {}),
            ...(queues?.payload ? { payloadBucket: queues.payload.bucket, payloadPrefix: queues.payload.prefix } : {}),
          },
          ...(observation.startTimes ? { startTimes: observation.startTimes } : {}),
        },
      });
      await this.save(next, record.version, change);
      if (observation.workersDesired !== record.desiredWorkers) await this.deps.backend.scale(record.id, record.desiredWorkers, retireOf(record));
      return { clusterId: record.id, action: 'running', status: 'RUNNING' };
    }

    const since = Date.parse(record.provisioningAt ?? record.updatedAt);
    if (this.deps.clock.now() - since > this.config.provisioningTimeoutMs) {
      const minutes = Math.round(this.config.provisioningTimeoutMs / 60_000);
      return this.fail(
        record,
        `the cluster did not become ready within ${minutes} minutes (scheduler ready: ${observation.schedulerReady}, ` +
          `workers registered: ${observation.workersRegistered} of ${observation.workersDesired}` +
          `${observation.failures.length ? `; last problem: ${describeFailure(observation.failures[0] as ComponentFailure, 5)}` : ''}); ` +
          'check capacity and the worker logs, or ask for fewer or smaller workers',
        true,
      );
    }

    if (!observation.exists) {
      // The apply never happened (a crash between the write and the apply) or was lost: do it again.
      return this.apply(record, this.definitionFor(record));
    }
    if (observation.workersDesired !== record.desiredWorkers) {
      await this.deps.backend.scale(record.id, record.desiredWorkers, retireOf(record));
      return this.requeue(record, 'scaled', 'PROVISIONING');
    }
    return this.requeue(record, 'waiting', 'PROVISIONING');
  }

  private async syncRunning(record: ClusterRecord): Promise<StepResult> {
    const observation = await this.deps.backend.observe(record.id);
    if (!observation.exists) {
      return this.fail(record, 'the cluster\'s scheduler and workers are gone from the backend (removed outside recc); create a new cluster', true);
    }
    // kubectl --edit the owner was allowed (issue 21 #3): level-triggered, so every look re-asserts it (idempotent, reads only once granted).
    if (record.kubectlEditAt !== undefined) await this.deps.backend.grantEdit?.(record.id);
    // Retired workers are named on the record: the backend stops those (idempotent: gone names are ignored).
    if (observation.workersDesired !== record.desiredWorkers || (record.retireWorkers?.length ?? 0) > 0) {
      await this.deps.backend.scale(record.id, record.desiredWorkers, retireOf(record));
      return { clusterId: record.id, action: 'scaled', status: 'RUNNING' };
    }
    return { clusterId: record.id, action: 'in-sync', status: 'RUNNING' };
  }

  private async tearDown(record: ClusterRecord): Promise<StepResult> {
    await this.teardownAll(record.id);
    const observation = await this.deps.backend.observe(record.id);
    if (!observation.exists) {
      const { next, change } = transition(record, 'DELETED', { actor: PROVISIONER_ACTOR, at: this.now(), reason: record.statusReason });
      await this.save(next, record.version, change);
      return { clusterId: record.id, action: 'deleted', status: 'DELETED' };
    }
    const since = Date.parse(record.updatedAt);
    if (this.deps.clock.now() - since > this.config.deletionTimeoutMs) {
      const { next, change } = transition(record, 'FAILED', {
        actor: PROVISIONER_ACTOR,
        at: this.now(),
        reason: `the teardown did not finish within ${Math.round(this.config.deletionTimeoutMs / 60_000)} minutes; the orphan sweep will keep removing what is left`,
      });
      await this.save(next, record.version, change);
      return { clusterId: record.id, action: 'failed', status: 'FAILED', reason: next.statusReason };
    }
    return this.requeue(record, 'tearing-down', 'DELETING');
  }

  /** Tear down (when resources may exist) and move to FAILED with an actionable reason. */
  private async fail(record: ClusterRecord, reason: string, teardown: boolean): Promise<StepResult> {
    if (teardown) await this.teardownAll(record.id);
    const { next, change } = transition(record, 'FAILED', { actor: PROVISIONER_ACTOR, at: this.now(), reason });
    await this.save(next, record.version, change);
    return { clusterId: record.id, action: 'failed', status: 'FAILED', reason };
  }

  private async requeue(record: ClusterRecord, action: StepAction, status: ClusterStatus): Promise<StepResult> {
    const delay = this.config.pollDelaySeconds;
    await this.deps.queue.send({ clusterId: record.id, cause: 'requeue' }, { delaySeconds: delay });
    return { clusterId: record.id, action, status, requeueAfterSeconds: delay };
  }

  private save(next: ClusterRecord, expectedVersion: number, change?: StatusChange): Promise<ClusterRecord> {
    return this.deps.store.put(next, expectedVersion, change);
  }

  private now(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }
}

/** Keep the last `lines` non-empty lines of a log, each at most 300 characters. */
export function tailLines(text: string, lines: number): string {
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .slice(-lines)
    .map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l))
    .join('\n');
}

/** An actionable reason for a component failure, with its log tail. */
export function describeFailure(failure: ComponentFailure, logTailLines: number): string {
  const head = `${failure.component} failed (${failure.reason}): ${failure.message}`;
  const tail = failure.logTail ? tailLines(failure.logTail, logTailLines) : '';
  return tail ? `${head}\n--- last lines of the ${failure.component} log ---\n${tail}` : head;
}

/** The workers a scale stops first (retired by the scheduler), as the backend port takes them. */
function retireOf(record: ClusterRecord): ScaleOptions {
  return record.retireWorkers && record.retireWorkers.length > 0 ? { retire: record.retireWorkers } : {};
}

/**
 * The scheduler's credential for the scale API on AWS (issue 19 #3): the API
 * is IAM-authenticated, and every cluster's pods share one role, so the
 * scheduler signs with it (SigV4) and proves its own cluster with an HMAC
 * under the cluster token it already mounts (`x-recc-cluster-proof`,
 * functions/commons/cluster-caller.ts). The API then acts for the owner on
 * that cluster only; a proof for one cluster never scales another.
 */
export function scaleClusterEnv(apiUrl: string, definition: Pick<ClusterDefinition, 'clusterId' | 'secretMountPath'>): Record<string, string> {
  return {
    RECC_API_URL: apiUrl,
    RECC_API_SIGNING: 'sigv4',
    RECC_API_CLUSTER: definition.clusterId,
    RECC_API_CLUSTER_TOKEN_FILE: `${definition.secretMountPath.replace(/\/+$/, '')}/${SECRET_FILES.token}`,
  };
}
