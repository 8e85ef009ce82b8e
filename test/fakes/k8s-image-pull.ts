import { createHash } from 'node:crypto';
import { resourceByKind, type Obj, type ObjectStore } from './k8s-store.ts';

/**
 * The kubelet's image pulls (issue 22 #4), as a real node does them:
 *
 * - The reference is parsed first; one that does not parse never gets pulled:
 *   waiting reason `InvalidImageName`, message "Failed to apply default image
 *   tag …", event `InspectFailed` (pkg/kubelet/images/image_manager.go
 *   `applyDefaultImageTag`, pkg/kubelet/images/types.go
 *   `ErrInvalidImageName`; grammar from github.com/distribution/reference
 *   regexp.go).
 * - A failed pull leaves the container waiting with reason `ErrImagePull` and
 *   the runtime's error as message, and records a Warning event `Failed`
 *   "Failed to pull image "X": <error>" plus "Error: ErrImagePull"
 *   (image_manager.go `EnsureImageExists`, pkg/kubelet/kuberuntime/
 *   kuberuntime_container.go `startContainer`, pkg/kubelet/events/event.go).
 * - Until the back-off ends, every sync says `ImagePullBackOff` "Back-off
 *   pulling image "X"" and records a Normal event `BackOff`; the back-off
 *   starts at 10 s and doubles up to 300 s (pkg/kubelet/kubelet.go
 *   `imageBackOff = flowcontrol.NewBackOff(backOffPeriod, MaxContainerBackOff)`,
 *   backOffPeriod 10 s, MaxContainerBackOff 300 s).
 * - Identical events are aggregated into one whose `count` grows
 *   (k8s.io/client-go/tools/record/events_cache.go `EventCorrelator`), so the
 *   `Failed` events of a pod say how many pulls failed and with what.
 *
 * The errors are those containerd 1.7 (EKS AL2023 nodes) prints for each
 * cause; only `NotFound` is a property of the image, the rest come and go.
 */
export type ImagePullError = 'NotFound' | 'TooManyRequests' | 'Timeout' | 'Unauthorized';

export interface ImagePullFailure {
  kind: 'ImagePull';
  error: ImagePullError;
  /** Pulls that fail before one succeeds; unset: every pull fails. */
  failures?: number;
  /** Override the runtime's error text. */
  message?: string;
}

const EVENT = resourceByKind('Event');
const BACKOFF_INITIAL_MS = 10_000;
const BACKOFF_MAX_MS = 300_000;

// github.com/distribution/reference regexp.go (anchored ReferenceRegexp, IPv6 hosts left out).
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(${TAG}))?(?:@(${DIGEST}))?$`);

/** The reference as containerd names it (ParseNormalizedNamed + TagNameOnly), or undefined when it does not parse. */
export function normalizeReference(image: string): { ref: string; host: string; repo: string; tag: string } | undefined {
  const m = REFERENCE.exec(image);
  if (!m || (m[1] ?? '').length > 255) return undefined;
  const name = m[1] ?? '';
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const hasDomain = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  const host = hasDomain ? first : 'docker.io';
  let repo = hasDomain ? name.slice(slash + 1) : name;
  if (!/^[a-z0-9._/-]+$/.test(repo)) return undefined; // "repository name must be lowercase"
  if (host === 'docker.io' && !repo.includes('/')) repo = `library/${repo}`;
  const tag = m[2] ?? (m[3] ? '' : 'latest');
  const ref = `${host}/${repo}${tag ? `:${tag}` : ''}${m[3] ? `@${m[3]}` : ''}`;
  return { ref, host: host === 'docker.io' ? 'registry-1.docker.io' : host, repo, tag: tag || (m[3] ?? '') };
}

function runtimeError(error: ImagePullError, image: string): string {
  const n = normalizeReference(image) ?? { ref: image, host: 'registry.invalid', repo: image, tag: 'latest' };
  const head = `failed to pull and unpack image "${n.ref}"`;
  switch (error) {
    case 'NotFound':
      return `rpc error: code = NotFound desc = ${head}: failed to resolve reference "${n.ref}": ${n.ref}: not found`;
    case 'TooManyRequests':
      return (
        `rpc error: code = Unknown desc = ${head}: failed to copy: httpReadSeeker: failed open: unexpected status code ` +
        `https://${n.host}/v2/${n.repo}/manifests/sha256:${'5f'.repeat(32)}: 429 Too Many Requests - Server message: toomanyrequests: ` +
        'You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit'
      );
    case 'Timeout':
      return (
        `rpc error: code = DeadlineExceeded desc = ${head}: failed to resolve reference "${n.ref}": failed to do request: ` +
        `Head "https://${n.host}/v2/${n.repo}/manifests/${n.tag}": dial tcp 52.94.0.10:443: i/o timeout`
      );
    case 'Unauthorized':
      return `rpc error: code = Unknown desc = ${head}: failed to resolve reference "${n.ref}": unexpected status from HEAD request to https://${n.host}/v2/${n.repo}/manifests/${n.tag}: 401 Unauthorized`;
  }
}

export class ImagePuller {
  /** Per pod uid: failed pulls so far, when the back-off ends, when the last pull failed. */
  private readonly pulls = new Map<string, { failed: number; backoffUntil: number; failedAt: number }>();

  constructor(
    private readonly store: ObjectStore,
    private readonly now: () => number,
  ) {}

  forget(uid: string): void {
    this.pulls.delete(uid);
  }

  /**
   * One kubelet sync of a bound pod's image. `present`: the image is there
   * (pulled now or before) and the container may start; otherwise the pod's
   * waiting state was updated (`changed` when it was saved).
   */
  ensureImage(pod: Obj, failure: ImagePullFailure | undefined): { present: boolean; changed: boolean } {
    const container = pod.spec?.containers?.[0] ?? {};
    const image: string = container.image ?? '';
    const uid: string = pod.metadata.uid ?? `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (!normalizeReference(image)) {
      const message = `Failed to apply default image tag "${image}": couldn't parse image name "${image}": invalid reference format`;
      if (this.waiting(pod)?.reason === 'InvalidImageName') return { present: false, changed: false };
      this.event(pod, 'Warning', 'InspectFailed', message);
      this.event(pod, 'Warning', 'Failed', 'Error: InvalidImageName');
      this.setWaiting(pod, 'InvalidImageName', message);
      return { present: false, changed: true };
    }
    if (!failure) return { present: true, changed: false };
    const state = this.pulls.get(uid) ?? { failed: 0, backoffUntil: 0, failedAt: 0 };
    this.pulls.set(uid, state);
    const now = this.now();
    if (now < state.backoffUntil) {
      // In back-off: the next sync (any later moment) reports ImagePullBackOff.
      if (now > state.failedAt && this.waiting(pod)?.reason === 'ErrImagePull') {
        const message = `Back-off pulling image "${image}"`;
        this.event(pod, 'Normal', 'BackOff', message);
        this.event(pod, 'Warning', 'Failed', 'Error: ImagePullBackOff');
        this.setWaiting(pod, 'ImagePullBackOff', message);
        return { present: false, changed: true };
      }
      return { present: false, changed: false };
    }
    this.event(pod, 'Normal', 'Pulling', `Pulling image "${image}"`);
    if (failure.failures !== undefined && state.failed >= failure.failures) {
      this.event(pod, 'Normal', 'Pulled', `Successfully pulled image "${image}"`);
      return { present: true, changed: true };
    }
    const error = failure.message ?? runtimeError(failure.error, image);
    state.failed += 1;
    state.failedAt = now;
    state.backoffUntil = now + Math.min(BACKOFF_INITIAL_MS * 2 ** (state.failed - 1), BACKOFF_MAX_MS);
    this.event(pod, 'Warning', 'Failed', `Failed to pull image "${image}": ${error}`);
    this.event(pod, 'Warning', 'Failed', 'Error: ErrImagePull');
    this.setWaiting(pod, 'ErrImagePull', error);
    return { present: false, changed: true };
  }

  private waiting(pod: Obj): { reason?: string } | undefined {
    return pod.status?.containerStatuses?.[0]?.state?.waiting;
  }

  private setWaiting(pod: Obj, reason: string, message: string): void {
    const container = pod.spec?.containers?.[0] ?? {};
    const name = container.name ?? 'main';
    const notReady = { status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${name}]` };
    pod.status = {
      ...(pod.status ?? {}),
      phase: 'Pending',
      startTime: pod.status?.startTime ?? new Date(this.now()).toISOString(),
      conditions: [
        { type: 'PodScheduled', status: 'True' },
        { type: 'Initialized', status: 'True' },
        { type: 'ContainersReady', ...notReady },
        { type: 'Ready', ...notReady },
      ],
      containerStatuses: [{ name, image: container.image, imageID: '', ready: false, started: false, restartCount: 0, state: { waiting: { reason, message } } }],
    };
    this.store.save(resourceByKind('Pod'), pod);
  }

  /** A core/v1 Event about the pod's container, aggregated with identical ones (count, lastTimestamp). */
  private event(pod: Obj, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const namespace: string = pod.metadata.namespace ?? '';
    const key = createHash('sha256').update(`${pod.metadata.uid}|${type}|${reason}|${message}`).digest('hex').slice(0, 16);
    const name = `${pod.metadata.name}.${key}`;
    const at = new Date(this.now()).toISOString();
    const existing = this.store.get(EVENT, namespace, name);
    if (existing) {
      existing.count = Number(existing.count ?? 1) + 1;
      existing.lastTimestamp = at;
      this.store.save(EVENT, existing);
      return;
    }
    const container = pod.spec?.containers?.[0]?.name ?? 'main';
    this.store.insert(EVENT, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, namespace, uid: pod.metadata.uid, fieldPath: `spec.containers{${container}}` },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: at,
      lastTimestamp: at,
      source: { component: 'kubelet', host: pod.spec?.nodeName },
      reportingComponent: 'kubelet',
      reportingInstance: pod.spec?.nodeName,
    });
  }
}
