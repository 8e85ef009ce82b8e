import type { InMemoryWorkQueue } from '../../adapters/queue/memory.ts';
import type { ClusterStore } from '../../shared/ports/cluster-store.ts';
import { transition } from '../../shared/lifecycle/machine.ts';
import { VersionConflictError } from '../../shared/ports/errors.ts';
import type { ClusterConnection, ClusterRecord, ClusterStatus } from '../../shared/lifecycle/types.ts';

/**
 * A scripted stand-in for the provisioner in API/SDK/CLI tests: drains the
 * in-memory queue on a short timer and walks each cluster through
 * REQUESTED → PROVISIONING → RUNNING (with a connection) or DELETING →
 * DELETED, one step per tick, so tests can watch the transitions. `fail`
 * makes named clusters go to FAILED with a reason instead.
 */
export interface FakeProvisioner {
  /** Clusters (by name) that fail while provisioning, with this reason. */
  failByName: Map<string, string>;
  stop(): void;
}

export function startFakeProvisioner(
  store: ClusterStore,
  queue: InMemoryWorkQueue,
  options: { tickMs?: number; connection?: (record: ClusterRecord) => ClusterConnection } = {},
): FakeProvisioner {
  const pending = new Set<string>();
  const failByName = new Map<string, string>();
  let busy = false;
  const step = async (id: string): Promise<boolean> => {
    const cur = await store.get(id);
    if (!cur) return false;
    const at = new Date().toISOString();
    const next: Partial<Record<ClusterStatus, ClusterStatus>> = { REQUESTED: 'PROVISIONING', PROVISIONING: 'RUNNING', DELETING: 'DELETED' };
    let to = next[cur.status];
    if (!to) return false;
    const failure = failByName.get(cur.name);
    if (failure && cur.status === 'PROVISIONING') to = 'FAILED';
    const patch =
      to === 'RUNNING'
        ? { connection: options.connection?.(cur) ?? { schedulerAddress: 'tcp://127.0.0.1:1', dashboardUrl: 'http://127.0.0.1:2', token: `token-of-${cur.id}` } }
        : undefined;
    try {
      const { next: n, change } = transition(cur, to, { actor: 'provisioner', at, ...(patch ? { patch } : {}), ...(to === 'FAILED' ? { reason: failure } : {}) });
      await store.put(n, cur.version, change);
    } catch (err) {
      if (!(err instanceof VersionConflictError)) throw err;
    }
    return true;
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      for (const { message } of queue.drain()) pending.add(message.clusterId);
      for (const id of [...pending]) {
        const more = await step(id);
        if (!more) pending.delete(id);
      }
    })().finally(() => {
      busy = false;
    });
  }, options.tickMs ?? 30);
  timer.unref();
  return { failByName, stop: () => clearInterval(timer) };
}
