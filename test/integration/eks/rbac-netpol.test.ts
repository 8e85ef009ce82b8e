import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { runHarvester } from '../../../control/harvester.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { DEFAULT_HARVEST_CONFIG } from '../../../shared/harvest/types.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import { t } from '../../support/cluster-records.ts';
import { recordAt } from '../../support/harvest-fixtures.ts';
import { startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Issue 22 #5: the fake's service proxy dials the scheduler pod from the
 * control plane's address (10.0.250.10), so the rendered deny-all and
 * desktops-only NetworkPolicies apply to it, as on EKS. Without a rule for
 * the control plane the status check fails, `schedulerReachable` is false,
 * and the harvester reaps a busy RUNNING cluster after
 * `schedulerUnreachableMinutes`; with `controlPlaneCidrs` (the
 * `recc-allow-control-plane-to-dashboard` policy) it is left alone.
 */
describe('EKS scheduler status under the rendered NetworkPolicies', () => {
  let stack: EksStack;
  let clock: ManualClock;
  let store: InMemoryClusterStore;

  beforeEach(async () => {
    stack = await startEksStack();
    clock = new ManualClock(Date.parse(t(0)));
    store = new InMemoryClusterStore();
  });

  afterEach(async () => {
    await stack.close();
  });

  async function runningCluster(id: string, controlPlaneCidrs: string[] | undefined): Promise<{ record: ClusterRecord; namespace: string }> {
    const backend = stack.makeBackend(controlPlaneCidrs ? { controlPlaneCidrs } : { controlPlaneCidrs: [] }, { clock });
    const def = testDefinition({ clusterId: id, owner: 'alice', workers: 1 });
    await backend.apply(def, testSecrets(id));
    await waitFor(async () => (await backend.observe(id)).schedulerReady, { what: `${id} scheduler Ready` });
    // A busy cluster: the scheduler reports a task running, so it is never idle.
    stack.fake.schedulerStatus.set(def.namespace, { tasksProcessing: 1, lastActivityAt: t(1) });
    const input = { id, owner: 'alice', runningAt: 1 };
    const { history } = recordAt('RUNNING', input);
    let current = (await store.create(recordAt('REQUESTED', input).record, history[0]!)).record;
    for (const change of history.slice(1)) {
      const { next, change: c } = transition(current, change.to, { actor: change.actor, at: change.at });
      current = await store.put(next, current.version, c);
    }
    return { record: current, namespace: def.namespace };
  }

  it('keeps a busy RUNNING cluster whose policies admit the control plane, and reaps one whose policies block it', async () => {
    // Prepare
    const admitted = await runningCluster('c-admitted', ['10.0.0.0/16']);
    const blocked = await runningCluster('c-blocked', undefined);
    const backend = stack.makeBackend({}, { clock });
    const deps = { store, backend, clock, config: DEFAULT_HARVEST_CONFIG, logger: silentLogger };

    // Act
    const observedAdmitted = await backend.observe('c-admitted');
    const observedBlocked = await backend.observe('c-blocked');
    clock.set(Date.parse(t(2)));
    const first = await runHarvester(deps);
    clock.set(Date.parse(t(2 + DEFAULT_HARVEST_CONFIG.schedulerUnreachableMinutes + 1)));
    const later = await runHarvester(deps);

    // Assess: the policy objects are the rendered ones.
    expect(stack.fake.objects('NetworkPolicy', admitted.namespace).map((p) => p.metadata.name)).toContain('recc-allow-control-plane-to-dashboard');
    expect(stack.fake.objects('NetworkPolicy', blocked.namespace).map((p) => p.metadata.name)).not.toContain('recc-allow-control-plane-to-dashboard');
    expect(observedAdmitted).toMatchObject({ schedulerReachable: true, activity: { tasksProcessing: 1 } });
    expect(observedBlocked.schedulerReachable).toBe(false);
    const proxied = stack.fake.requests.filter((r) => r.path.includes('/services/recc-scheduler:dashboard/proxy/'));
    expect(proxied.filter((r) => r.path.includes(blocked.namespace)).every((r) => r.status === 503)).toBe(true);
    expect(proxied.filter((r) => r.path.includes(admitted.namespace)).every((r) => r.status === 200)).toBe(true);
    expect(first.reaped).toEqual([]);
    expect(later.reaped).toEqual([{ clusterId: 'c-blocked', reason: 'scheduler-unreachable' }]);
    expect((await store.get('c-admitted'))?.status).toBe('RUNNING');
  }, 60_000);

  it('blocks the proxy when a policy admits the control plane on another port only', async () => {
    // Prepare: the control plane may reach the scheduler's comm port, not the dashboard.
    const { namespace } = await runningCluster('c-port', undefined);
    await fetch(`${stack.fake.url}/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies`, {
      method: 'POST',
      headers: { authorization: 'Bearer fake-eks-bearer-token', 'content-type': 'application/json' },
      body: JSON.stringify({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'comm-only' },
        spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.0.250.0/24'] } }] }, { from: [{ ipBlock: { cidr: '10.0.250.0/24' } }], ports: [{ port: 8786 }] }] },
      }),
    });

    // Act
    const observed = await stack.makeBackend({ controlPlaneCidrs: [] }, { clock }).observe('c-port');

    // Assess
    expect(observed.schedulerReachable).toBe(false);
    const last = stack.fake.requests.filter((r) => r.path.includes('/proxy/')).at(-1);
    expect(last?.status).toBe(503);
  }, 60_000);
});
