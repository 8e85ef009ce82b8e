import { isTerminalPod } from './k8s-quota.ts';
import { clone, resourceByKind, type Obj, type ObjectStore } from './k8s-store.ts';

/**
 * The batch/v1 Job controller of the fake cluster (pkg/controller/job/job_controller.go), run
 * with the other controllers after every write:
 * - one pod per Job from its template (`<job>-<suffix>`, the
 *   `batch.kubernetes.io/job-name` / `controller-uid` labels, a controller
 *   ownerReference), admitted by the namespace's ResourceQuota (a denial is a
 *   `FailedCreate` Event, retried on the next pass, as the real controller does);
 * - a failed pod counts against `backoffLimit` (default 6); past it the Job
 *   gets `Failed` / `BackoffLimitExceeded`; a succeeded pod makes it `Complete`;
 * - `activeDeadlineSeconds` from `status.startTime`: active pods are deleted
 *   and the Job gets `Failed` / `DeadlineExceeded`;
 * - deleting a Job cascades to its pods only with `propagationPolicy`
 *   Background or Foreground; without it the REST default for batch/v1 Jobs
 *   orphans them (the API server handles that, see `k8s-api-server.ts`).
 *
 * Containers have no real process behind them: a test gives a pod its exit
 * with a `ContainerScript` (exit code and output after a delay). Without a
 * script a started container runs until its pod is deleted.
 */
export interface ContainerScript {
  /** Which pods: every given condition must hold. */
  match: { namespace?: string; labels?: Record<string, string> };
  /** Output written when the container starts (stdout and stderr interleaved, as `kubectl logs` shows them). */
  startLog?: string;
  /** How long the container runs after it started. @default 0 */
  runMs?: number;
  /** Exit status; undefined: the container never exits by itself. */
  exitCode?: number;
  /** Output written at exit. */
  exitLog?: string;
}

const POD = resourceByKind('Pod');
const JOB = resourceByKind('Job');
const EVENT = resourceByKind('Event');

export interface JobControllerHost {
  readonly store: ObjectStore;
  readonly now: () => number;
  /** Pod logs by `namespace/name` (the kubelet's). */
  readonly logs: Map<string, string>;
  /** When each pod's log was last written (for `timestamps=true`). */
  readonly logTimes: Map<string, number>;
  quotaDenial(pod: Obj): string | undefined;
  deletePod(pod: Obj): void;
}

export class JobController {
  private readonly scripts = new Map<number, ContainerScript>();
  private scriptSeq = 0;
  private podSeq = 0;
  private readonly started = new Set<string>();

  constructor(private readonly host: JobControllerHost) {}

  addScript(script: ContainerScript): number {
    this.scriptSeq += 1;
    this.scripts.set(this.scriptSeq, script);
    return this.scriptSeq;
  }

  removeScript(id: number): void {
    this.scripts.delete(id);
  }

  clearScripts(): void {
    this.scripts.clear();
  }

  /** A running container writes output (the driver's progress lines). */
  writeLog(namespace: string, pod: string, text: string): void {
    const key = `${namespace}/${pod}`;
    this.host.logs.set(key, (this.host.logs.get(key) ?? '') + text);
    this.host.logTimes.set(key, this.host.now());
  }

  /** One pass over every Job and its pods; true when anything changed. */
  reconcile(): boolean {
    let changed = false;
    for (const pod of this.host.store.list(POD, undefined, (p) => Boolean(p.metadata.labels?.['batch.kubernetes.io/job-name']))) changed = this.runContainer(pod) || changed;
    for (const job of this.host.store.list(JOB)) changed = this.reconcileJob(job) || changed;
    return changed;
  }

  private podsOf(job: Obj): Obj[] {
    return this.host.store.list(POD, job.metadata.namespace, (p) => (p.metadata.ownerReferences ?? []).some((o) => o.uid === job.metadata.uid));
  }

  private reconcileJob(job: Obj): boolean {
    const ns = this.host.store.get(resourceByKind('Namespace'), undefined, job.metadata.namespace ?? '');
    if (!ns || ns.metadata.deletionTimestamp) return false;
    const status = clone(job.status ?? {});
    const finished = (status.conditions ?? []).some((c: any) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    const pods = this.podsOf(job);
    const active = pods.filter((p) => !isTerminalPod(p) && !p.metadata.deletionTimestamp);
    const succeeded = pods.filter((p) => p.status?.phase === 'Succeeded').length;
    const failed = pods.filter((p) => p.status?.phase === 'Failed').length;
    const at = new Date(this.host.now()).toISOString();
    status.startTime ??= at;
    status.active = active.length;
    status.succeeded = succeeded;
    status.failed = failed;
    status.ready = active.filter((p) => (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True')).length;
    if (!finished) {
      const fail = (reason: string, message: string): void => {
        for (const p of active) this.host.deletePod(p);
        status.active = 0;
        status.conditions = [...(status.conditions ?? []), { type: 'Failed', status: 'True', reason, message, lastTransitionTime: at }];
      };
      const deadline = job.spec?.activeDeadlineSeconds;
      // job_controller.go `syncJob`: completions 1 → Complete on the first success; failures past
      // spec.backoffLimit (default 6, pkg/apis/batch/v1/defaults.go) → Failed/BackoffLimitExceeded;
      // active longer than activeDeadlineSeconds → active pods deleted, Failed/DeadlineExceeded.
      if (succeeded > 0) {
        status.completionTime = at;
        status.conditions = [...(status.conditions ?? []), { type: 'Complete', status: 'True', lastTransitionTime: at }];
      } else if (failed > Number(job.spec?.backoffLimit ?? 6)) {
        fail('BackoffLimitExceeded', 'Job has reached the specified backoff limit');
      } else if (typeof deadline === 'number' && this.host.now() - Date.parse(status.startTime) > deadline * 1000) {
        fail('DeadlineExceeded', 'Job was active longer than specified deadline');
      } else if (active.length === 0 && !job.spec?.suspend) {
        this.createPod(job);
      }
    }
    if (JSON.stringify(status) === JSON.stringify(job.status ?? {})) return false;
    job.status = status;
    this.host.store.save(JOB, job);
    return true;
  }

  private createPod(job: Obj): void {
    this.podSeq += 1;
    const template = clone(job.spec?.template ?? {});
    const name = `${job.metadata.name}-${this.podSeq.toString(36).padStart(5, '0')}`;
    const pod: Obj = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: job.metadata.namespace,
        // Labels the Job's generated selector matches (pkg/registry/batch/job/strategy.go `generateSelector`).
        labels: {
          ...(template.metadata?.labels ?? {}),
          'batch.kubernetes.io/controller-uid': job.metadata.uid ?? '',
          'batch.kubernetes.io/job-name': job.metadata.name,
          'controller-uid': job.metadata.uid ?? '',
          'job-name': job.metadata.name,
        },
        ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: job.metadata.name, uid: job.metadata.uid ?? '', controller: true }],
      },
      spec: template.spec ?? {},
      status: { phase: 'Pending', conditions: [] },
    };
    const denied = this.host.quotaDenial(pod);
    // A refused create is a FailedCreate Warning event on the Job, retried on the next sync
    // (pkg/controller/controller_utils.go `RealPodControl.createPods`, FailedCreatePodReason).
    if (denied) {
      this.recordEvent(job, 'FailedCreate', `Error creating: ${denied}`);
      return;
    }
    this.host.store.insert(POD, pod);
  }

  private recordEvent(job: Obj, reason: string, message: string): void {
    const name = `${job.metadata.name}.${reason.toLowerCase()}`;
    const existing = this.host.store.get(EVENT, job.metadata.namespace, name);
    if (existing) return;
    this.host.store.insert(EVENT, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: job.metadata.namespace },
      involvedObject: { kind: 'Job', name: job.metadata.name, namespace: job.metadata.namespace, uid: job.metadata.uid },
      reason,
      message,
      type: 'Warning',
    });
  }

  /** A started job container: its script's output, then its exit (phase Succeeded / Failed, `state.terminated`). */
  private runContainer(pod: Obj): boolean {
    if (pod.status?.phase !== 'Running' || pod.metadata.deletionTimestamp) return false;
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const script = this.scriptFor(pod);
    let changed = false;
    if (!this.started.has(pod.metadata.uid ?? key)) {
      this.started.add(pod.metadata.uid ?? key);
      // The kubelet's generic "started" line is not a job container's output.
      this.host.logs.set(key, script?.startLog ?? '');
      this.host.logTimes.set(key, this.host.now());
      changed = true;
    }
    if (script?.exitCode === undefined) return changed;
    const startedAt = Date.parse(pod.status?.startTime ?? new Date(this.host.now()).toISOString());
    if (this.host.now() - startedAt < (script.runMs ?? 0)) return changed;
    if (script.exitLog) this.writeLog(pod.metadata.namespace ?? '', pod.metadata.name, script.exitLog);
    const container = pod.spec?.containers?.[0] ?? {};
    const finishedAt = new Date(this.host.now()).toISOString();
    pod.status = {
      ...pod.status,
      phase: script.exitCode === 0 ? 'Succeeded' : 'Failed',
      conditions: (pod.status?.conditions ?? []).map((c: any) => (c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False', reason: 'PodCompleted' } : c)),
      containerStatuses: [
        {
          name: container.name ?? 'main',
          image: container.image,
          imageID: '',
          ready: false,
          started: false,
          restartCount: 0,
          state: { terminated: { exitCode: script.exitCode, reason: script.exitCode === 0 ? 'Completed' : 'Error', startedAt: pod.status?.startTime, finishedAt } },
        },
      ],
    };
    this.host.store.save(POD, pod);
    return true;
  }

  private scriptFor(pod: Obj): ContainerScript | undefined {
    for (const s of this.scripts.values()) {
      if (s.match.namespace && s.match.namespace !== pod.metadata.namespace) continue;
      if (s.match.labels && !Object.entries(s.match.labels).every(([k, v]) => pod.metadata.labels?.[k] === v)) continue;
      return s;
    }
    return undefined;
  }
}
