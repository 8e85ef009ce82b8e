import { resourceByKind, type Obj, type ObjectStore } from './k8s-store.ts';

/**
 * PersistentVolumes and PersistentVolumeClaims in the fake cluster: the PV
 * controller's binding of pre-bound volumes and the scheduler's volume
 * binding filter. Static volumes only (recc's EFS source volume,
 * adapters/eks/manifests/build.ts `buildSourceVolume`): no provisioner, no
 * storage classes.
 *
 * - Binding (pkg/controller/volume/persistentvolume/pv_controller.go
 *   `syncUnboundClaim` / `syncVolume`): a claim naming a volume
 *   (`spec.volumeName`) binds to it when the volume is free or pre-bound to
 *   this claim by `claimRef` (namespace, name, and uid once set), with the
 *   same storage class and the access modes asked for; a volume pre-bound by
 *   `claimRef` is also found by a claim that names none. Both go `Bound`; the
 *   volume's `claimRef` gets the claim's uid. A claim whose volume is missing
 *   or taken stays `Pending`. A bound claim whose volume disappeared is
 *   `Lost`; a volume whose bound claim is gone is `Released` (reclaim policy
 *   Retain: kept, with its data).
 * - Scheduling (pkg/scheduler/framework/plugins/volumebinding/volume_binding.go
 *   `PreFilter`): a pod whose claim does not exist is unschedulable with the
 *   lister's error, `persistentvolumeclaim "NAME" not found`; one with a claim
 *   not yet bound (immediate binding, as for storageClassName "") with
 *   `pod has unbound immediate PersistentVolumeClaims`.
 */

const PV = resourceByKind('PersistentVolume');
const PVC = resourceByKind('PersistentVolumeClaim');

const className = (o: Obj): string => o.spec?.storageClassName ?? '';

function accessModesFit(pv: Obj, pvc: Obj): boolean {
  const offered: string[] = pv.spec?.accessModes ?? [];
  return (pvc.spec?.accessModes ?? []).every((m: string) => offered.includes(m));
}

function claimRefAdmits(pv: Obj, pvc: Obj): boolean {
  const ref = pv.spec?.claimRef;
  if (!ref) return true;
  return ref.namespace === pvc.metadata.namespace && ref.name === pvc.metadata.name && (!ref.uid || ref.uid === pvc.metadata.uid);
}

/** Run the PV controller once over every claim and volume; true when something changed. */
export function reconcileVolumes(store: ObjectStore): boolean {
  let changed = false;
  for (const pvc of store.list(PVC)) {
    if (pvc.metadata.deletionTimestamp) continue;
    if (pvc.status?.phase === 'Bound') {
      const pv = store.get(PV, undefined, pvc.spec?.volumeName ?? '');
      if (!pv) {
        pvc.status = { ...pvc.status, phase: 'Lost' };
        store.save(PVC, pvc);
        changed = true;
      } else if (pv.spec?.claimRef?.uid !== pvc.metadata.uid && claimRefAdmits(pv, pvc)) {
        // The volume was replaced with a claimRef without uid (a re-apply): bind it back (`syncVolume`).
        pv.spec.claimRef = { kind: 'PersistentVolumeClaim', apiVersion: 'v1', ...(pv.spec.claimRef ?? {}), namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid };
        store.save(PV, pv);
        changed = true;
      }
      continue;
    }
    if (pvc.status?.phase === 'Lost') continue;
    const pv = pvc.spec?.volumeName
      ? store.get(PV, undefined, pvc.spec.volumeName)
      : store.list(PV, undefined, (v) => v.spec?.claimRef?.namespace === pvc.metadata.namespace && v.spec?.claimRef?.name === pvc.metadata.name)[0];
    if (!pv || !claimRefAdmits(pv, pvc) || className(pv) !== className(pvc) || !accessModesFit(pv, pvc) || pv.status?.phase === 'Released') {
      if (pvc.status?.phase !== 'Pending') {
        pvc.status = { phase: 'Pending' };
        store.save(PVC, pvc);
        changed = true;
      }
      continue;
    }
    pv.spec.claimRef = { kind: 'PersistentVolumeClaim', apiVersion: 'v1', ...(pv.spec.claimRef ?? {}), namespace: pvc.metadata.namespace, name: pvc.metadata.name, uid: pvc.metadata.uid };
    pv.status = { phase: 'Bound' };
    store.save(PV, pv);
    pvc.spec.volumeName = pv.metadata.name;
    pvc.metadata.annotations = { ...(pvc.metadata.annotations ?? {}), 'pv.kubernetes.io/bind-completed': 'yes' };
    pvc.status = { phase: 'Bound', accessModes: [...(pv.spec.accessModes ?? [])], capacity: { ...(pv.spec.capacity ?? {}) } };
    store.save(PVC, pvc);
    changed = true;
  }
  for (const pv of store.list(PV)) {
    const ref = pv.spec?.claimRef;
    let phase = 'Available';
    if (ref?.uid) {
      const pvc = store.get(PVC, ref.namespace, ref.name);
      phase = pvc && pvc.metadata.uid === ref.uid ? 'Bound' : 'Released';
    }
    if (pv.status?.phase === 'Released') phase = 'Released'; // a released volume is not reused without an administrator
    if (pv.status?.phase !== phase) {
      pv.status = { phase };
      store.save(PV, pv);
      changed = true;
    }
  }
  return changed;
}

/** Why the volume binding plugin refuses a pod in PreFilter, or undefined when all its claims are bound. */
export function unboundClaimReason(store: ObjectStore, pod: Obj): string | undefined {
  let unbound = false;
  for (const v of pod.spec?.volumes ?? []) {
    const claimName: string | undefined = v.persistentVolumeClaim?.claimName;
    if (claimName === undefined) continue;
    const pvc = store.get(PVC, pod.metadata.namespace, claimName);
    if (!pvc) return `persistentvolumeclaim "${claimName}" not found`;
    if (pvc.metadata.deletionTimestamp) return `persistentvolumeclaim "${claimName}" is being deleted`;
    if (pvc.status?.phase !== 'Bound') unbound = true;
  }
  return unbound ? 'pod has unbound immediate PersistentVolumeClaims' : undefined;
}

/**
 * Validation of the two kinds (pkg/apis/core/validation/validation.go
 * `ValidatePersistentVolume`, `ValidatePersistentVolumeClaim`, and their
 * `…Update`: a volume's source and a claim's spec, but its requests, are
 * immutable).
 */
export function validateVolumeObject(kind: string, obj: Obj, current?: Obj): string[] {
  const problems: string[] = [];
  if (kind === 'PersistentVolume') {
    if (!obj.spec?.capacity?.storage) problems.push('spec.capacity: Required value');
    if (!(obj.spec?.accessModes ?? []).length) problems.push('spec.accessModes: Required value');
    const sources = Object.keys(obj.spec ?? {}).filter((k) => ['csi', 'nfs', 'hostPath', 'local', 'awsElasticBlockStore'].includes(k));
    if (sources.length === 0) problems.push('spec: Required value: must specify a volume type');
    if (sources.length > 1) problems.push('spec: Forbidden: may not specify more than 1 volume type');
    if (obj.spec?.csi && !obj.spec.csi.driver) problems.push('spec.csi.driver: Required value');
    if (obj.spec?.csi && !obj.spec.csi.volumeHandle) problems.push('spec.csi.volumeHandle: Required value');
    if (current) {
      const source = (o: Obj) => canonical({ csi: o.spec?.csi, nfs: o.spec?.nfs, hostPath: o.spec?.hostPath });
      if (source(obj) !== source(current)) problems.push('spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation');
    }
  }
  if (kind === 'PersistentVolumeClaim') {
    if (!(obj.spec?.accessModes ?? []).length) problems.push('spec.accessModes: Required value: at least 1 access mode is required');
    if (!obj.spec?.resources?.requests?.storage) problems.push('spec.resources[storage]: Required value');
    if (current) {
      const fixed = (o: Obj) => canonical({ ...o.spec, resources: undefined });
      if (fixed(obj) !== fixed(current)) {
        problems.push('spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims');
      }
    }
  }
  return problems;
}

/** JSON with sorted keys and undefined dropped (semantic equality, as the API server compares decoded objects). */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
