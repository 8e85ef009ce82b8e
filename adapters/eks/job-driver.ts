import { silentLogger, type Logger } from '../../shared/core/logger.ts';
import { toLabelValue } from '../../shared/definition/render.ts';
import type { ClusterDefinition } from '../../shared/definition/types.ts';
import type { JobRecord, RunRecord } from '../../shared/jobs/types.ts';
import type { DriverStatus, JobDriver } from '../../shared/ports/job-driver.ts';
import type { RunLogStore } from '../../shared/ports/run-logs.ts';
import { manifestOptions, type EksBackendConfig } from './config.ts';
import { apiStatus, wrapApiError, type KubeClients } from './kube.ts';
import { MANAGED_SELECTOR, clusterFromNamespace } from './live.ts';
import { DRIVER_CONTAINER, buildDriverJob } from './manifests/driver-job.ts';
import { EKS_LABELS, OBJECT_NAMES } from './manifests/naming.ts';

/**
 * The scheduled-job driver on EKS: a Kubernetes Job in the run's cluster
 * namespace (`manifests/driver-job.ts`), found again by its `recc.io/run`
 * label, so any process with the same configuration (the job-runner Lambda,
 * the harvester) can watch, kill or copy the logs of any run's driver. Every
 * method is idempotent:
 * - start: create the Job (AlreadyExists = started);
 * - status: the Job's pod: running (last output time from the log's
 *   timestamps), or exited with its container's exit code; a Job Kubernetes
 *   failed by itself (its deadline) is an exit with the Job's reason;
 * - kill: copy the logs first (a deleted pod takes them along), then delete
 *   the Job with `propagationPolicy: Background` (the REST default for Jobs
 *   orphans their pods, which would keep running) and any pod left;
 * - copyLogs: the pod's log into the RunLogStore (S3 on AWS), which outlives
 *   the namespace.
 * Pod logs interleave stdout and stderr, so the "stderr tail" of a failed
 * run is the tail of its whole output.
 */
export interface EksJobDriverDeps {
  kube: KubeClients;
  config: Pick<
    EksBackendConfig,
    'allowedCidrs' | 'controlPlaneCidrs' | 'logGroup' | 'egressCidrs' | 'serviceMode' | 'ingressDomain' | 'ingressClassName' | 'ingressSourceCidrs' | 'efsFileSystemId' | 'efsRootPath' | 'nodeGroupPrefix' | 'kubernetesGroupPrefix' | 'region'
  >;
  logs: RunLogStore;
  /** The recc API the driver reaches its cluster through (`RECC_API_URL`). */
  apiUrl?: string;
  /** Lines kept as the failure's output tail. @default 50 */
  tailLines?: number;
  /** Largest log copied, in bytes (the tail is kept). @default 8 MiB */
  maxLogBytes?: number;
  logger?: Logger;
}

const TAIL_BYTES = 4096;

export class EksJobDriver implements JobDriver {
  private readonly logger: Logger;

  constructor(private readonly deps: EksJobDriverDeps) {
    this.logger = (deps.logger ?? silentLogger).child({ component: 'eks-job-driver' });
  }

  private runSelector(runId: string): string {
    return `${MANAGED_SELECTOR},${EKS_LABELS.run}=${toLabelValue(runId)}`;
  }

  private async namespaceOf(clusterId: string): Promise<string | undefined> {
    const { core } = await this.deps.kube.apis();
    const list = await core.listNamespace({ labelSelector: `${MANAGED_SELECTOR},${EKS_LABELS.cluster}=${toLabelValue(clusterId)}` }).catch((err: unknown) => {
      throw wrapApiError(err, 'list namespaces');
    });
    for (const ns of list.items ?? []) {
      const cluster = clusterFromNamespace(ns);
      if (cluster?.clusterId === clusterId && cluster.live) return cluster.namespace;
    }
    return undefined;
  }

  async start({ run, job, clusterId }: { run: RunRecord; job: JobRecord; clusterId: string }): Promise<{ pid?: number }> {
    const namespace = await this.namespaceOf(clusterId);
    if (namespace === undefined) throw new Error(`the run's cluster ${clusterId} has no live namespace`);
    const { core, batch } = await this.deps.kube.apis();
    const cm = await core.readNamespacedConfigMap({ name: OBJECT_NAMES.definition, namespace }).catch((err: unknown) => {
      throw wrapApiError(err, `read the definition of ${clusterId}`);
    });
    const text = cm.data?.['definition.json'];
    if (!text) throw new Error(`the run's cluster ${clusterId} has no stored definition`);
    const definition = JSON.parse(text) as ClusterDefinition;
    const body = buildDriverJob(definition, manifestOptions(this.deps.config), {
      runId: run.id,
      jobName: job.name,
      entry: job.entry,
      activeSeconds: job.timeouts.activeSeconds,
      ...(this.deps.apiUrl ? { apiUrl: this.deps.apiUrl } : {}),
    });
    try {
      await batch.createNamespacedJob({ namespace, body: body as never });
      this.logger.info('driver job created', { runId: run.id, clusterId, namespace, job: body.metadata.name });
    } catch (err) {
      if (apiStatus(err) !== 409) throw wrapApiError(err, `create the driver of ${run.id}`);
    }
    return {};
  }

  private async findJob(runId: string): Promise<any | undefined> {
    const { batch } = await this.deps.kube.apis();
    const list = await batch.listJobForAllNamespaces({ labelSelector: this.runSelector(runId) }).catch((err: unknown) => {
      throw wrapApiError(err, 'list driver jobs');
    });
    return (list.items ?? []).find((j: any) => !j.metadata?.deletionTimestamp);
  }

  private async podsOf(runId: string): Promise<any[]> {
    const { core } = await this.deps.kube.apis();
    const list = await core.listPodForAllNamespaces({ labelSelector: this.runSelector(runId) }).catch((err: unknown) => {
      throw wrapApiError(err, 'list driver pods');
    });
    // Newest first: with backoffLimit 0 there is one, but a pod orphaned by an earlier delete may linger.
    return [...(list.items ?? [])].sort((a: any, b: any) => String(b.metadata?.creationTimestamp ?? '').localeCompare(String(a.metadata?.creationTimestamp ?? '')));
  }

  private async readLog(pod: any, options: { tailLines?: number; timestamps?: boolean } = {}): Promise<string | undefined> {
    const { core } = await this.deps.kube.apis();
    try {
      const text = await core.readNamespacedPodLog({
        name: pod.metadata.name,
        namespace: pod.metadata.namespace,
        container: DRIVER_CONTAINER,
        ...(options.tailLines === undefined ? { limitBytes: this.deps.maxLogBytes ?? 8 * 1024 * 1024 } : { tailLines: options.tailLines }),
        ...(options.timestamps ? { timestamps: true } : {}),
      });
      return String(text ?? '');
    } catch (err) {
      // 400: the container has not started (no log yet); 404: the pod went meanwhile.
      if (apiStatus(err) === 400 || apiStatus(err) === 404) return undefined;
      throw wrapApiError(err, `read the log of ${pod.metadata.name}`);
    }
  }

  async status(runId: string): Promise<DriverStatus | undefined> {
    const job = await this.findJob(runId);
    if (job === undefined) return undefined;
    const pod = (await this.podsOf(runId)).find((p) => p.metadata?.ownerReferences?.some((o: any) => o.uid === job.metadata?.uid));
    const conditions: any[] = job.status?.conditions ?? [];
    const complete = conditions.find((c) => c.type === 'Complete' && c.status === 'True');
    const failed = conditions.find((c) => c.type === 'Failed' && c.status === 'True');
    const terminated = pod?.status?.containerStatuses?.find((c: any) => c.name === DRIVER_CONTAINER)?.state?.terminated;
    if (complete || failed || terminated) {
      const tail = pod ? ((await this.readLog(pod, { tailLines: this.deps.tailLines ?? 50 })) ?? '') : '';
      if (terminated) {
        const signal = terminated.signal ? `SIG${String(terminated.signal)}` : null;
        return { running: false, exitCode: typeof terminated.exitCode === 'number' ? terminated.exitCode : null, signal, stderrTail: tail.slice(-TAIL_BYTES) };
      }
      if (complete) return { running: false, exitCode: 0, signal: null, stderrTail: tail.slice(-TAIL_BYTES) };
      // Kubernetes ended the Job itself (its deadline, its backoff limit) and the pod is gone with its status.
      const why = `Kubernetes stopped the driver: ${failed.reason ?? 'Failed'}${failed.message ? ` (${failed.message})` : ''}`;
      return { running: false, exitCode: null, signal: 'SIGKILL', stderrTail: `${tail}${tail && !tail.endsWith('\n') ? '\n' : ''}${why}`.slice(-TAIL_BYTES) };
    }
    if (pod?.status?.phase !== 'Running') return { running: true };
    const last = await this.readLog(pod, { tailLines: 1, timestamps: true });
    const at = last === undefined ? Number.NaN : Date.parse(last.split(' ', 1)[0] ?? '');
    return Number.isFinite(at) ? { running: true, lastOutputAt: at } : { running: true };
  }

  async kill(runId: string): Promise<void> {
    // The pod's log goes with the pod: keep it before anything is deleted.
    await this.copyLogs(runId).catch((err: unknown) => this.logger.warn('copying driver logs before kill failed', { runId, error: err }));
    const { batch, core } = await this.deps.kube.apis();
    const job = await this.findJob(runId);
    if (job !== undefined) {
      await batch.deleteNamespacedJob({ name: job.metadata.name, namespace: job.metadata.namespace, propagationPolicy: 'Background' }).catch((err: unknown) => {
        if (apiStatus(err) !== 404) throw wrapApiError(err, `delete the driver of ${runId}`);
      });
    }
    for (const pod of await this.podsOf(runId)) {
      if (pod.metadata?.deletionTimestamp) continue;
      await core.deleteNamespacedPod({ name: pod.metadata.name, namespace: pod.metadata.namespace }).catch((err: unknown) => {
        if (apiStatus(err) !== 404) throw wrapApiError(err, `delete the driver pod of ${runId}`);
      });
    }
    this.logger.info('driver killed', { runId, job: job?.metadata?.name });
  }

  async copyLogs(runId: string): Promise<string | undefined> {
    const pod = (await this.podsOf(runId))[0];
    const text = pod === undefined ? undefined : await this.readLog(pod);
    if (text !== undefined) return this.deps.logs.put(runId, text);
    // Gone already (killed, or its namespace deleted): what was copied before stands.
    const kept = await this.deps.logs.get(runId);
    return kept === undefined ? undefined : this.deps.logs.put(runId, kept);
  }

  async readLogs(runId: string): Promise<string | undefined> {
    const kept = await this.deps.logs.get(runId);
    if (kept !== undefined) return kept;
    const pod = (await this.podsOf(runId))[0];
    return pod === undefined ? undefined : this.readLog(pod);
  }
}
