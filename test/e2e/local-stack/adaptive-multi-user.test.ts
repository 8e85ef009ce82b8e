import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Client } from '../../../client/index.ts';
import { CLUSTER_PROOF_HEADER, CLUSTER_PROOF_TTL_MS, clusterProof } from '../../../shared/api/cluster-proof.ts';
import { repoPath } from '../../support/engine.ts';
import { killClusterProcesses, startUsersStack } from '../../support/local-stack.ts';
import { waitFor, watchPeak } from '../../support/wait.ts';

/**
 * Issue 19: an adaptive cluster on a multi-user `recc up` (one token per
 * user). Its scheduler holds no user's token; it asks for workers with a
 * cluster proof under its own cluster token, which the stack maps to the
 * owner on that one cluster (as the API does for a pod on AWS).
 */
describe('Feature: adaptive scaling on a multi-user local stack', () => {
  it('grows the cluster through a cluster proof, with no user token in the scheduler, and the proof reaches nothing else', async () => {
    const tokens = { alice: 'tok-alice-adaptive-0123456789', bob: 'tok-bob-adaptive-0123456789' };
    const { stack, stateDir } = await startUsersStack('adaptive-users', tokens);
    const call = async (who: string | undefined, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(`${stack.url}${path}`, {
        method,
        headers: { ...(who ? { authorization: `Bearer ${who}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    };
    const ids: string[] = [];
    const runsDir = mkdtempSync(join(tmpdir(), 'recc-adaptive-users-runs-'));
    try {
      // Prepare: alice's adaptive cluster and bob's plain one
      const created = await call(tokens.alice, 'POST', '/clusters', {
        name: 'adaptive-users',
        workerCpu: 1,
        workerMemoryGiB: 0.5,
        adaptive: { minimum: 1, maximum: 3, targetDuration: 2, waitCount: 2, interval: 0.5 },
      });
      expect(created.status).toBe(202);
      const id: string = created.body.cluster.id;
      ids.push(id);
      const bobs = await call(tokens.bob, 'POST', '/clusters', { name: 'bob-plain', nWorkers: 1, workerCpu: 1, workerMemoryGiB: 0.5 });
      expect(bobs.status, JSON.stringify(bobs.body)).toBe(202);
      ids.push(bobs.body.cluster.id);
      const running = await waitFor(
        async () => {
          const c = (await call(tokens.alice, 'GET', `/clusters/${id}`)).body?.cluster;
          if (c?.status === 'FAILED') throw new Error(`cluster failed: ${JSON.stringify(c.failure ?? c)}`);
          return c?.status === 'RUNNING' ? c : undefined;
        },
        { timeoutMs: 90_000, what: 'alice cluster RUNNING' },
      );

      // The scheduler's environment names its cluster and token file, and carries no user's token.
      const schedulerEnv = readFileSync(`/proc/${schedulerPid(stateDir, id)}/environ`, 'utf8');
      expect(schedulerEnv).toContain(`RECC_API_CLUSTER=${id}`);
      expect(schedulerEnv).toContain('RECC_API_CLUSTER_TOKEN_FILE=');
      expect(schedulerEnv).not.toContain(tokens.alice);
      expect(schedulerEnv).not.toContain(tokens.bob);
      expect(schedulerEnv).not.toContain('RECC_API_TOKEN=');

      // Act: enough 100 ms tasks that the target exceeds one worker
      const { schedulerAddress, token, caPem } = running.connection;
      const client = await Client.connect(schedulerAddress, { token, caPem });
      try {
        const mod = await client.module(repoPath('test/e2e/local-stack/fixtures/counted.ts'));
        const n = 300;
        const futures = client.map(mod.fn('countedSleep'), Array.from({ length: n }, (_, i) => i), Array(n).fill(100), Array(n).fill(runsDir));
        const desired = watchPeak(async () => (await call(tokens.alice, 'GET', `/clusters/${id}`)).body.cluster.desiredWorkers);
        const results = (await client.gather(futures)) as number[];
        const peakDesired = await desired.stop();

        // Assess: correct results, and the scheduler's scale requests went through
        expect(results).toEqual(Array.from({ length: n }, (_, i) => i * 2));
        expect(peakDesired).toBeGreaterThan(1);
      } finally {
        await client.close();
      }

      // A proof under alice's cluster token reaches that cluster's own routes only.
      const proof = (method: string, cluster = id) => ({ [CLUSTER_PROOF_HEADER]: clusterProof(running.connection.token, cluster, method, Date.now() + CLUSTER_PROOF_TTL_MS) });
      expect((await call(undefined, 'GET', `/clusters/${id}`, undefined, proof('GET'))).status).toBe(200);
      const other = await call(undefined, 'GET', `/clusters/${bobs.body.cluster.id}`, undefined, proof('GET'));
      expect(other.status).toBe(403);
      expect((await call(undefined, 'PATCH', `/clusters/${bobs.body.cluster.id}`, { workers: 2 }, proof('PATCH'))).status).toBe(403);
      expect((await call(undefined, 'GET', '/clusters', undefined, proof('GET'))).status).toBe(403);
      expect((await call(undefined, 'POST', '/clusters', { name: 'x' }, proof('POST'))).status).toBe(403);
      // Claiming bob's cluster with alice's cluster token, a proof for another method, garbage: all refused.
      expect((await call(undefined, 'GET', `/clusters/${bobs.body.cluster.id}`, undefined, proof('GET', bobs.body.cluster.id))).status).toBe(403);
      expect((await call(undefined, 'PATCH', `/clusters/${id}`, { workers: 2 }, proof('GET'))).status).toBe(403);
      expect((await call(undefined, 'GET', `/clusters/${id}`, undefined, { [CLUSTER_PROOF_HEADER]: 'v1.constructor.1.__proto__' })).status).toBe(403);
      // The console is never served on a proof; a bad bearer token is not rescued by a proof.
      expect((await call(undefined, 'GET', '/console', undefined, proof('GET'))).status).toBe(401);
      expect((await call('wrong-token', 'GET', `/clusters/${id}`, undefined, proof('GET'))).status).toBe(401);
    } finally {
      for (const id of ids) await call(id === ids[0] ? tokens.alice : tokens.bob, 'DELETE', `/clusters/${id}`).catch(() => undefined);
      await stack.close();
      killClusterProcesses(stateDir);
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(runsDir, { recursive: true, force: true });
    }
  });
});

/** The scheduler's pid, from the local backend's state file for the cluster. */
function schedulerPid(stateDir: string, clusterId: string): number {
  const state = JSON.parse(readFileSync(`${stateDir}/clusters/${clusterId}/state.json`, 'utf8')) as { processes: Array<{ component: string; pid: number }> };
  const pid = state.processes.find((p) => p.component === 'scheduler')?.pid;
  if (!pid) throw new Error(`no scheduler in the state of ${clusterId}`);
  return pid;
}
