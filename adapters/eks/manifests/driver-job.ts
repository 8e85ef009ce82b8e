import { SECRET_FILES, type ClusterDefinition } from '../../../shared/definition/types.ts';
import { toLabelValue } from '../../../shared/definition/render.ts';
import type { JobEntry } from '../../../shared/jobs/types.ts';
import { buildSchedulerDeployment, type ManifestOptions } from './build.ts';
import { DRIVER_RESOURCES, EKS_LABELS, MANAGED_BY } from './naming.ts';
import type { K8sObject } from './types.ts';

/**
 * The driver of a scheduled-job run as a Kubernetes Job in the run's cluster
 * namespace (pure). The pod is the scheduler pod's twin where it matters: the
 * same image, node group (nodeSelector, toleration), service account, security
 * context, secret and source mounts, and log shipping environment, so what the
 * cluster can reach the driver can reach. It gets `RECC_CLUSTER=id:<its
 * cluster>` (the script a researcher runs ad hoc runs unchanged) and a proof
 * of its cluster for the API (`RECC_API_CLUSTER[_TOKEN_FILE]`: the API acts
 * for the cluster's owner on that cluster only), the job's
 * params as `RECC_JOB_PARAMS`, and never restarts: `backoffLimit: 0`, its exit
 * status is the run's outcome. `activeDeadlineSeconds` is the run's active
 * timeout plus a margin, a backstop that stops the driver even if the control
 * plane that should time it out is down.
 */
export interface DriverJobInput {
  runId: string;
  jobName: string;
  entry: JobEntry;
  /** The job's active timeout; Kubernetes stops the pod DEADLINE_MARGIN_SECONDS after it. */
  activeSeconds: number;
  /** The recc API the driver reaches its cluster through (`RECC_API_URL`). */
  apiUrl?: string;
}

/** Where the image keeps recc (Dockerfile `WORKDIR`): the driver runs from there, so `--import tsx` and `recc` resolve. */
export const IMAGE_HOME = '/opt/recc';
export const DRIVER_CONTAINER = 'driver';
export const DEADLINE_MARGIN_SECONDS = 120;

/** `recc-driver-<run id>`: one Job per run, a DNS label (run ids are at most ~45 characters). */
export function driverJobName(runId: string): string {
  return `recc-driver-${runId}`.slice(0, 63).replace(/-+$/, '');
}

/** argv of the driver: a module (run as a script, or one export called with the params) or the image command as given. */
export function driverCommand(entry: JobEntry, sourceDir: string | undefined): string[] {
  if (entry.kind === 'command') return [...entry.command];
  // A module of the published branch lives under its mount; otherwise it is a path in the image.
  const module = sourceDir === undefined ? entry.module : `${sourceDir}/${entry.module}`;
  if (entry.export === undefined) return ['node', '--import', 'tsx', module];
  return ['node', '--import', 'tsx', `${IMAGE_HOME}/adapters/jobs/run-entry.ts`, module, entry.export];
}

export function buildDriverJob(def: ClusterDefinition, options: ManifestOptions, input: DriverJobInput): K8sObject {
  const scheduler = buildSchedulerDeployment(def, options) as K8sObject & { spec: { template: { spec: Record<string, any> } } };
  const podSpec = scheduler.spec.template.spec;
  const schedulerContainer = podSpec.containers[0] as Record<string, any>;
  const inherited = (schedulerContainer.env as Array<{ name: string }>).filter((e) => !DRIVER_ENV_NAMES.has(e.name));
  const sourceDir = (inherited as Array<{ name: string; value?: string }>).find((e) => e.name === 'RECC_SOURCE_DIR')?.value;
  const env = [
    ...inherited,
    { name: 'RECC_CLUSTER', value: `id:${def.clusterId}` },
    ...(input.apiUrl ? [{ name: 'RECC_API_URL', value: input.apiUrl }] : []),
    // The pod's IAM role names no user: every API call carries a proof under this cluster's token
    // (mounted from the cluster's Secret), and the API acts for the owner on this cluster only.
    { name: 'RECC_API_SIGNING', value: 'sigv4' },
    { name: 'RECC_API_CLUSTER', value: def.clusterId },
    { name: 'RECC_API_CLUSTER_TOKEN_FILE', value: `${def.secretMountPath.replace(/\/+$/, '')}/${SECRET_FILES.token}` },
    { name: 'RECC_JOB', value: input.jobName },
    { name: 'RECC_JOB_RUN', value: input.runId },
    { name: 'RECC_JOB_PARAMS', value: JSON.stringify(input.entry.params) },
    { name: 'RECC_COMPONENT', value: 'driver' },
  ];
  const labels = {
    ...def.labels,
    [EKS_LABELS.managedBy]: MANAGED_BY,
    [EKS_LABELS.component]: 'driver',
    [EKS_LABELS.run]: toLabelValue(input.runId),
  };
  const resources = { cpu: DRIVER_RESOURCES.cpu, memory: DRIVER_RESOURCES.memory };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: driverJobName(input.runId), namespace: def.namespace, labels },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: input.activeSeconds + DEADLINE_MARGIN_SECONDS,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: podSpec.serviceAccountName,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          nodeSelector: podSpec.nodeSelector,
          tolerations: podSpec.tolerations,
          securityContext: podSpec.securityContext,
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              name: DRIVER_CONTAINER,
              image: schedulerContainer.image,
              imagePullPolicy: schedulerContainer.imagePullPolicy,
              command: driverCommand(input.entry, sourceDir),
              // The published branch when one is mounted (as the scheduler's), so relative paths in the script resolve there.
              workingDir: schedulerContainer.workingDir ?? IMAGE_HOME,
              env,
              resources: { requests: { ...resources, 'ephemeral-storage': '1Gi' }, limits: { ...resources, 'ephemeral-storage': '2Gi' } },
              volumeMounts: schedulerContainer.volumeMounts,
              securityContext: schedulerContainer.securityContext,
            },
          ],
          volumes: podSpec.volumes,
        },
      },
    },
  };
}

/** Set for the driver itself (never inherited from the scheduler's container). */
const DRIVER_ENV_NAMES = new Set(['RECC_CLUSTER', 'RECC_API_URL', 'RECC_API_SIGNING', 'RECC_API_CLUSTER', 'RECC_API_CLUSTER_TOKEN_FILE', 'RECC_JOB', 'RECC_JOB_RUN', 'RECC_JOB_PARAMS', 'RECC_COMPONENT', 'POD_IP']);
