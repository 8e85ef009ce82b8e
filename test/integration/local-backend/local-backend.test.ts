import { statSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { LocalProcessBackend, freePorts } from '../../../adapters/local-backend/index.ts';
import { generateClusterSecrets } from '../../../adapters/secrets/index.ts';
import { secretsRequestFor } from '../../../control/provisioner.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import type { ClusterDefinition } from '../../../shared/definition/types.ts';
import { computeBackendConformance } from '../../conformance/compute-backend.ts';
import { processesOfCluster, tempStateDir } from '../../support/local-stack.ts';
import { planFixture, specFixture } from '../../support/local-stack-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

const stateDir = tempStateDir('backend');
const CRASH_MARKER = 'boom: cannot import research module';

function definitionFor(clusterId: string, workers: number, failWorkers = false): ClusterDefinition {
  const def = renderCluster({
    clusterId,
    owner: 'tester',
    namespace: `recc-tester-${clusterId}`,
    spec: specFixture({ nWorkers: workers, workerCpu: 1, workerMemoryGiB: 0.5 }),
    plan: planFixture(),
  });
  if (failWorkers) {
    // The worker's container command fails at start, printing a reason first.
    def.workers = {
      ...def.workers,
      command: [process.execPath, '-e', `console.log('starting worker'); console.error(${JSON.stringify(CRASH_MARKER)}); process.exit(3)`],
      args: [],
    };
  }
  return def;
}

const backend = () => new LocalProcessBackend({ stateDir, baseEnv: process.env });

computeBackendConformance('local-process', backend, (id, { workers, failWorkers }) => definitionFor(id, workers, failWorkers), {
  makeSecrets: (def) => generateClusterSecrets(secretsRequestFor(def)),
  failureLogMarker: CRASH_MARKER,
  readyTimeoutMs: 60_000,
  dispose: async (b) => {
    for (const ref of await b.list()) await b.teardown(ref.clusterId);
  },
});

describe('Class: LocalProcessBackend', () => {
  afterAll(async () => {
    const b = backend();
    for (const ref of await b.list()) await b.teardown(ref.clusterId);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('keeps secrets 0600 while running and keeps the logs but not the secrets after teardown', async () => {
    // Prepare
    const b = backend();
    const def = definitionFor('files-1', 1);
    await b.apply(def, await generateClusterSecrets(secretsRequestFor(def)));
    await waitFor(async () => (await b.observe('files-1')).ready, { what: 'cluster ready' });
    const secretsDir = join(b.clusterDir('files-1'), 'secrets');

    // Act
    const tokenMode = statSync(join(secretsDir, 'token')).mode & 0o777;
    const keyMode = statSync(join(secretsDir, 'tls.key')).mode & 0o777;
    await b.teardown('files-1');

    // Assess
    expect(tokenMode).toBe(0o600);
    expect(keyMode).toBe(0o600);
    expect(() => statSync(secretsDir)).toThrow();
    const logs = await b.logFiles('files-1');
    expect(logs.map((f) => f.split('/').pop())).toEqual(['scheduler.log', 'worker-0.log']);
    expect(readFileSync(logs[0] as string, 'utf8')).toContain('scheduler.ready');
    expect(processesOfCluster('files-1')).toEqual([]);
  });

  it('restarts the cluster on new ports when its scheduler port was taken before it could bind', async () => {
    // Prepare: the first port handed out is already held by someone else.
    const blocker = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    let calls = 0;
    const b = new LocalProcessBackend({
      stateDir,
      baseEnv: process.env,
      choosePorts: async (n) => {
        calls += 1;
        const fresh = await freePorts(n);
        return calls === 1 ? [taken, ...fresh.slice(1)] : fresh;
      },
    });
    const def = definitionFor('ports-1', 1);
    const seen: string[] = [];
    /** Every permanent failure in full (component, message, log tail): what a failed run needs to be understood. */
    const permanent: unknown[] = [];

    // Act
    try {
      await b.apply(def, await generateClusterSecrets(secretsRequestFor(def)));
      const ready = await waitFor(async () => {
        const o = await b.observe('ports-1');
        seen.push(...o.failures.map((f) => `${f.reason}:${f.permanent}`));
        permanent.push(...o.failures.filter((f) => f.permanent));
        return o.ready ? o : undefined;
      }, { what: 'cluster ready on new ports' });

      // Assess
      expect(ready.schedulerAddress).not.toBe(`tls://127.0.0.1:${taken}`);
      expect(seen).toContain('PortInUse:false');
      expect(seen.filter((f) => f.endsWith(':true')), JSON.stringify(permanent)).toEqual([]);
      expect(calls).toBe(2);
    } finally {
      await b.teardown('ports-1');
      await new Promise((r) => blocker.close(r));
    }
  });

  it('restarts a worker that died after registering with back-off, until its restart budget is spent, with the malloc env', async () => {
    // Prepare: a budget of 2 restarts per minute
    const b = new LocalProcessBackend({ stateDir, baseEnv: process.env, maxWorkerRestarts: 2, restartWindowMs: 60_000 });
    const def = definitionFor('respawn-1', 1);
    await b.apply(def, await generateClusterSecrets(secretsRequestFor(def)));
    await waitFor(async () => (await b.observe('respawn-1')).ready, { what: 'cluster ready' });
    const workerPid = () => processesOfCluster('respawn-1').find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker'));
    const reasons: string[] = [];

    // Act: kill the worker three times; each time observe until a new one runs (or the budget says no)
    for (let round = 0; round < 3; round++) {
      // Registered: the appended worker log holds one more ready line per generation.
      const registered = async () => {
        const log = (await b.logFiles('respawn-1')).find((f) => f.endsWith('worker-0.log')) as string;
        return readFileSync(log, 'utf8').split('"event":"worker.ready"').length - 1 > round;
      };
      const pid = await waitFor(async () => (await b.observe('respawn-1')).ready && (await registered()) && workerPid(), { what: `a registered worker (round ${round})` });
      expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).toContain('MALLOC_MMAP_THRESHOLD_=1048576\0');
      process.kill(pid, 'SIGKILL');
      await waitFor(async () => {
        const o = await b.observe('respawn-1');
        const f = o.failures?.find((x) => x.component === 'worker');
        if (f && f.reason !== 'BackOff') reasons.push(f.reason);
        else if (f) reasons.push('BackOff');
        return f && f.reason !== 'BackOff' ? f : undefined;
      }, { what: `the worker's restart or refusal (round ${round})` });
    }

    // Assess: 2 restarts (after a back-off), then a reported crash loop, not a permanent failure and no new worker
    const decisive = reasons.filter((r) => r !== 'BackOff');
    expect(decisive).toEqual(['Restarted', 'Restarted', 'CrashLoopBackOff']);
    expect(reasons).toContain('BackOff');
    const last = await b.observe('respawn-1');
    expect(last.failures?.find((x) => x.component === 'worker')).toMatchObject({ reason: 'CrashLoopBackOff', permanent: false });
    expect(workerPid()).toBeUndefined();
    await b.teardown('respawn-1');
  });

  it('finds a running cluster again from its state file in a new backend instance (a restarted recc up)', async () => {
    // Prepare
    const first = backend();
    const def = definitionFor('restart-1', 1);
    await first.apply(def, await generateClusterSecrets(secretsRequestFor(def)));
    const before = await waitFor(async () => {
      const o = await first.observe('restart-1');
      return o.ready ? o : undefined;
    }, { what: 'cluster ready' });

    // Act
    const second = backend();
    const after = await second.observe('restart-1');
    const secrets = await second.readSecrets('restart-1');
    await second.teardown('restart-1');

    // Assess
    expect(after).toMatchObject({ exists: true, ready: true, schedulerAddress: before.schedulerAddress });
    expect(secrets?.token).toMatch(/\S{20,}/);
    expect((await second.observe('restart-1')).exists).toBe(false);
    expect(processesOfCluster('restart-1')).toEqual([]);
  });
});
