import { resourceByKind, type Obj, type ObjectStore } from './k8s-store.ts';

/**
 * Pod Security Admission as the API server enforces it on pod creation
 * (staging/src/k8s.io/pod-security-admission/admission/admission.go
 * `EvaluatePod`): the namespace's `pod-security.kubernetes.io/enforce` level
 * decides; a pod that violates it is refused with 403 Forbidden and
 * `pods "NAME" is forbidden: violates PodSecurity "LEVEL:VERSION": REASON (DETAIL), …`.
 * Workload objects (Deployments, Jobs) are only warned about, so a refused pod
 * shows up as the ReplicaSet's FailedCreate (k8s-kubelet.ts) or the Job's.
 *
 * Modelled: the `restricted` checks of staging/src/k8s.io/pod-security-admission/policy/
 * check_restrictedVolumes.go (only configMap, csi, downwardAPI, emptyDir,
 * ephemeral, persistentVolumeClaim, projected and secret volumes; an `nfs`
 * or `hostPath` volume is refused), check_allowPrivilegeEscalation.go,
 * check_capabilities_restricted.go, check_runAsNonRoot.go, check_runAsUser.go
 * and check_seccompProfile_restricted.go, in the order of their check ids.
 * Baseline-only checks (host namespaces, privileged, host ports, sysctls,
 * AppArmor, SELinux) are not modelled: at `baseline` or `privileged` the fake
 * admits every pod.
 */

const ALLOWED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

const pluralize = (singular: string, plural: string, n: number) => (n === 1 ? singular : plural);
const joinQuote = (items: string[]) => items.map((i) => JSON.stringify(i)).join(', ');

type Check = (pod: Obj) => { reason: string; detail: string } | undefined;

function containersOf(pod: Obj): any[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
}

const allowPrivilegeEscalation: Check = (pod) => {
  const bad = containersOf(pod).filter((c) => c.securityContext?.allowPrivilegeEscalation !== false).map((c) => String(c.name));
  if (bad.length === 0) return undefined;
  return { reason: 'allowPrivilegeEscalation != false', detail: `${pluralize('container', 'containers', bad.length)} ${joinQuote(bad)} must set securityContext.allowPrivilegeEscalation=false` };
};

const capabilitiesRestricted: Check = (pod) => {
  const bad = containersOf(pod).filter((c) => !(c.securityContext?.capabilities?.drop ?? []).includes('ALL')).map((c) => String(c.name));
  if (bad.length === 0) return undefined;
  return { reason: 'unrestricted capabilities', detail: `${pluralize('container', 'containers', bad.length)} ${joinQuote(bad)} must set securityContext.capabilities.drop=["ALL"]` };
};

const restrictedVolumes: Check = (pod) => {
  const badVolumes: string[] = [];
  const badTypes = new Set<string>();
  for (const v of pod.spec?.volumes ?? []) {
    const types = Object.keys(v).filter((k) => k !== 'name');
    const bad = types.filter((t) => !ALLOWED_VOLUME_TYPES.has(t));
    if (bad.length > 0) {
      badVolumes.push(String(v.name));
      for (const t of bad) badTypes.add(t);
    }
  }
  if (badVolumes.length === 0) return undefined;
  const types = [...badTypes].sort();
  return {
    reason: 'restricted volume types',
    detail: `${pluralize('volume', 'volumes', badVolumes.length)} ${joinQuote(badVolumes)} ${pluralize('uses', 'use', badVolumes.length)} ${pluralize('restricted volume type', 'restricted volume types', types.length)} ${joinQuote(types)}`,
  };
};

const runAsNonRoot: Check = (pod) => {
  const podLevel = pod.spec?.securityContext?.runAsNonRoot;
  if (podLevel === false) return { reason: 'runAsNonRoot != true', detail: 'pod must not set securityContext.runAsNonRoot=false' };
  const unset = containersOf(pod).filter((c) => c.securityContext?.runAsNonRoot === undefined && podLevel !== true).map((c) => String(c.name));
  const explicitFalse = containersOf(pod).filter((c) => c.securityContext?.runAsNonRoot === false).map((c) => String(c.name));
  if (explicitFalse.length > 0) return { reason: 'runAsNonRoot != true', detail: `${pluralize('container', 'containers', explicitFalse.length)} ${joinQuote(explicitFalse)} must not set securityContext.runAsNonRoot=false` };
  if (unset.length > 0) return { reason: 'runAsNonRoot != true', detail: `pod or ${pluralize('container', 'containers', unset.length)} ${joinQuote(unset)} must set securityContext.runAsNonRoot=true` };
  return undefined;
};

const runAsUser: Check = (pod) => {
  if (pod.spec?.securityContext?.runAsUser === 0) return { reason: 'runAsUser=0', detail: 'pod must not set runAsUser=0' };
  const bad = containersOf(pod).filter((c) => c.securityContext?.runAsUser === 0).map((c) => String(c.name));
  if (bad.length === 0) return undefined;
  return { reason: 'runAsUser=0', detail: `${pluralize('container', 'containers', bad.length)} ${joinQuote(bad)} must not set runAsUser=0` };
};

const seccompProfileRestricted: Check = (pod) => {
  const ok = (t: unknown) => t === 'RuntimeDefault' || t === 'Localhost';
  const podType = pod.spec?.securityContext?.seccompProfile?.type;
  const bad = containersOf(pod)
    .filter((c) => {
      const own = c.securityContext?.seccompProfile?.type;
      return own === undefined ? !ok(podType) : !ok(own);
    })
    .map((c) => String(c.name));
  if (bad.length === 0) return undefined;
  return { reason: 'seccompProfile', detail: `pod or ${pluralize('container', 'containers', bad.length)} ${joinQuote(bad)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"` };
};

/** In the order of their check ids (policy/registry.go sorts them). */
const RESTRICTED_CHECKS: Check[] = [allowPrivilegeEscalation, capabilitiesRestricted, restrictedVolumes, runAsNonRoot, runAsUser, seccompProfileRestricted];

/** The Forbidden message for a pod its namespace's enforce level refuses, or undefined when it is admitted. */
export function podSecurityDenial(store: ObjectStore, pod: Obj): string | undefined {
  const ns = store.get(resourceByKind('Namespace'), undefined, pod.metadata.namespace ?? '');
  const labels = ns?.metadata.labels ?? {};
  const level = labels['pod-security.kubernetes.io/enforce'];
  if (level !== 'restricted') return undefined;
  const version = labels['pod-security.kubernetes.io/enforce-version'] ?? 'latest';
  const violations = RESTRICTED_CHECKS.map((check) => check(pod)).filter((v): v is { reason: string; detail: string } => v !== undefined);
  if (violations.length === 0) return undefined;
  return `pods "${pod.metadata.name}" is forbidden: violates PodSecurity "${level}:${version}": ${violations.map((v) => `${v.reason} (${v.detail})`).join(', ')}`;
}
