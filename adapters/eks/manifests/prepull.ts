import { EKS_LABELS } from './naming.ts';
import type { K8sObject } from './types.ts';

/**
 * Pre-pulled images for warm capacity (issue 19 #5): one DaemonSet per warm
 * node group, in its own namespace, whose pods land on every node of that
 * group (its nodeSelector and taint). Each of the group's images is an init
 * container that exits at once (`sh -c 'exit 0'`: recc's image, node:20-slim,
 * has a shell); the kubelet pulls it first, and containerd keeps it, so a
 * cluster pod scheduled there later starts without a pull. A pause container
 * keeps the pod (and with it the images, which the kubelet's image GC spares
 * while a pod uses them) for the life of the node.
 *
 * The pods carry no `recc.io/managed-by` label on purpose: the node-group
 * scale-in counts a node busy when a recc-managed pod runs on it, and a
 * pre-pull pod must never keep an idle node; and the namespace carries none
 * either, so the harvester and `list()` never take it for a cluster.
 */
export const WARM_NAMESPACE = 'recc-warm';
/** The pause image (Kubernetes' own, pinned). A stage without internet egress mirrors it to ECR and sets `pauseImage`. */
export const DEFAULT_PAUSE_IMAGE = 'registry.k8s.io/pause:3.10';
export const PREPULL_APP = 'recc-prepull';

const PART_OF = { 'app.kubernetes.io/part-of': 'recc' };
const CONTAINER_SECURITY = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };
// Just enough to start: these pods do nothing, and their requests come out of every node's allocatable.
const TINY = { requests: { cpu: '1m', memory: '8Mi' }, limits: { cpu: '50m', memory: '32Mi' } };

export function warmNamespace(): K8sObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: WARM_NAMESPACE, labels: { ...PART_OF } } };
}

/** The DaemonSet's name for a node group (group names are label values, at most 63 characters). */
export function prePullName(groupName: string): string {
  return `prepull-${groupName}`;
}

export function prePullDaemonSet(groupName: string, images: readonly string[], pauseImage: string = DEFAULT_PAUSE_IMAGE): K8sObject {
  if (images.length === 0) throw new RangeError(`pre-pull DaemonSet of ${groupName}: no image to pull`);
  const labels = { ...PART_OF, 'app.kubernetes.io/name': PREPULL_APP, [EKS_LABELS.nodeGroup]: groupName };
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: prePullName(groupName), namespace: WARM_NAMESPACE, labels, annotations: { 'recc.io/images': images.join(' ') } },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': PREPULL_APP, [EKS_LABELS.nodeGroup]: groupName } },
      // A new image is pulled on every node at once: the pods serve nothing.
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '100%' } },
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          nodeSelector: { [EKS_LABELS.nodeGroup]: groupName },
          tolerations: [{ key: EKS_LABELS.nodeGroup, operator: 'Equal', value: groupName, effect: 'NoSchedule' }],
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          terminationGracePeriodSeconds: 1,
          initContainers: images.map((image, i) => ({
            name: `pull-${i}`,
            image,
            imagePullPolicy: 'IfNotPresent',
            command: ['sh', '-c', 'exit 0'],
            resources: TINY,
            securityContext: CONTAINER_SECURITY,
          })),
          containers: [{ name: 'pause', image: pauseImage, imagePullPolicy: 'IfNotPresent', resources: TINY, securityContext: CONTAINER_SECURITY }],
        },
      },
    },
  };
}
