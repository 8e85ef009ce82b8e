import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ClusterDefinition, ClusterSecrets } from '../../shared/definition/types.ts';
import type { ComputeBackend, Observation } from '../../shared/ports/compute-backend.ts';
import { waitFor } from '../support/wait.ts';

/**
 * The ComputeBackend contract. Every backend (local processes, EKS on the fake
 * Kubernetes API server, the scripted fake in test/fakes) runs this suite:
 *
 *   computeBackendConformance('local-process', () => makeLocalBackend(), makeDefinition, { … });
 *
 * Backend-specific behaviour is passed in, never assumed:
 * - `makeDefinition(clusterId, { workers, failWorkers })` renders a definition;
 *   with `failWorkers: true` its worker command must fail at start (however
 *   that backend induces it: a command that exits, a fake kubelet told to
 *   crash-loop, …).
 * - `makeSecrets(definition)` gives the secret material (real certificates for
 *   backends that start a TLS scheduler).
 * - `failureLogMarker`: when set, a permanent worker failure must carry a log
 *   tail containing this text (the crashing command prints it).
 */
export interface DefinitionRequest {
  workers: number;
  failWorkers?: boolean;
}

export interface ComputeBackendConformanceOptions {
  makeSecrets: (definition: ClusterDefinition) => ClusterSecrets | Promise<ClusterSecrets>;
  /** Called once after the suite with every backend it made. */
  dispose?: (backend: ComputeBackend) => void | Promise<void>;
  /** Deadline for a cluster to become ready or to fail. @default 60_000 */
  readyTimeoutMs?: number;
  /** Text the failing worker prints; asserted in the failure's logTail when given. */
  failureLogMarker?: string;
  /** Poll interval for observe(). @default 100 */
  pollIntervalMs?: number;
}

let sequence = 0;
function uniqueId(tag: string): string {
  sequence += 1;
  const rnd = Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0');
  return `cf-${tag}-${rnd}${sequence}`;
}

export function computeBackendConformance(
  name: string,
  makeBackend: () => ComputeBackend | Promise<ComputeBackend>,
  makeDefinition: (clusterId: string, request: DefinitionRequest) => ClusterDefinition | Promise<ClusterDefinition>,
  options: ComputeBackendConformanceOptions,
): void {
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const intervalMs = options.pollIntervalMs ?? 100;
  const backends: ComputeBackend[] = [];
  const created: Array<{ backend: ComputeBackend; id: string }> = [];

  async function backend(): Promise<ComputeBackend> {
    const b = await makeBackend();
    backends.push(b);
    return b;
  }

  async function applyNew(b: ComputeBackend, tag: string, request: DefinitionRequest): Promise<ClusterDefinition> {
    const id = uniqueId(tag);
    const definition = await makeDefinition(id, request);
    created.push({ backend: b, id: definition.clusterId });
    await b.apply(definition, await options.makeSecrets(definition));
    return definition;
  }

  async function observeUntil(b: ComputeBackend, id: string, what: string, ok: (o: Observation) => boolean): Promise<Observation> {
    let last: Observation | undefined;
    try {
      return await waitFor(
        async () => {
          last = await b.observe(id);
          return ok(last) ? last : undefined;
        },
        { timeoutMs: readyTimeoutMs, intervalMs, what },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last observation: ${JSON.stringify(last)}`);
    }
  }

  describe(`ComputeBackend conformance: ${name}`, () => {
    afterEach(async () => {
      // Every test tears down what it made, even when it failed half-way.
      const pending = created.splice(0);
      for (const { backend: b, id } of pending) await b.teardown(id).catch(() => undefined);
    });

    afterAll(async () => {
      if (options.dispose) for (const b of backends) await options.dispose(b);
    });

    describe('Method: observe', () => {
      it('reports exists:false and not ready when the cluster id is unknown', async () => {
        // Prepare
        const b = await backend();

        // Act
        const observation = await b.observe(uniqueId('unknown'));

        // Assess
        expect(observation.exists).toBe(false);
        expect(observation.ready).toBe(false);
        expect(observation.failures).toEqual([]);
      });
    });

    describe('Method: apply', () => {
      it('brings the scheduler and every planned worker up when a definition is applied', async () => {
        // Prepare
        const b = await backend();

        // Act
        const def = await applyNew(b, 'up', { workers: 2 });
        const observation = await observeUntil(b, def.clusterId, 'cluster ready', (o) => o.ready);

        // Assess
        expect(observation).toMatchObject({ clusterId: def.clusterId, exists: true, schedulerReady: true, workersDesired: 2 });
        expect(observation.workersRegistered).toBeGreaterThanOrEqual(2);
        expect(observation.failures.filter((f) => f.permanent)).toEqual([]);
        expect(observation.schedulerAddress).toMatch(/^(tcp|tls):\/\/[^:]+:\d+$/);
      });

      it('changes nothing when the same definition is applied again', async () => {
        // Prepare
        const b = await backend();
        const def = await applyNew(b, 'again', { workers: 1 });
        const first = await observeUntil(b, def.clusterId, 'cluster ready', (o) => o.ready);

        // Act
        await b.apply(def, await options.makeSecrets(def));
        const second = await observeUntil(b, def.clusterId, 'cluster ready after re-apply', (o) => o.ready);

        // Assess
        expect(second.schedulerAddress).toBe(first.schedulerAddress);
        expect(second.workersDesired).toBe(1);
        expect(second.workersRegistered).toBe(first.workersRegistered);
        const listed = (await b.list()).filter((r) => r.clusterId === def.clusterId);
        expect(listed).toHaveLength(1);
      });

      it('reports a permanent worker failure with a reason when the worker command fails at start', async () => {
        // Prepare
        const b = await backend();

        // Act
        const def = await applyNew(b, 'crash', { workers: 1, failWorkers: true });
        const observation = await observeUntil(b, def.clusterId, 'a permanent worker failure', (o) =>
          o.failures.some((f) => f.component === 'worker' && f.permanent),
        );

        // Assess
        const failure = observation.failures.find((f) => f.component === 'worker' && f.permanent);
        expect(failure?.reason).toMatch(/\S/);
        expect(failure?.message).toMatch(/\S/);
        expect(observation.ready).toBe(false);
        if (options.failureLogMarker) expect(failure?.logTail ?? '').toContain(options.failureLogMarker);
      });
    });

    describe('Method: scale', () => {
      it('reflects scaling up and then down in observe', async () => {
        // Prepare
        const b = await backend();
        const def = await applyNew(b, 'scale', { workers: 1 });
        await observeUntil(b, def.clusterId, 'cluster ready', (o) => o.ready);

        // Act
        await b.scale(def.clusterId, 3);
        const up = await observeUntil(b, def.clusterId, '3 workers', (o) => o.ready && o.workersDesired === 3 && o.workersRegistered === 3);
        await b.scale(def.clusterId, 1);
        const down = await observeUntil(b, def.clusterId, '1 worker', (o) => o.ready && o.workersDesired === 1 && o.workersRegistered === 1);

        // Assess
        expect(up.workersRegistered).toBe(3);
        expect(down.workersRegistered).toBe(1);
        expect(down.schedulerAddress).toBe(up.schedulerAddress);
      });
    });

    describe('Method: teardown', () => {
      it('removes the cluster so observe says exists:false', async () => {
        // Prepare
        const b = await backend();
        const def = await applyNew(b, 'down', { workers: 1 });
        await observeUntil(b, def.clusterId, 'cluster ready', (o) => o.ready);

        // Act
        await b.teardown(def.clusterId);
        const gone = await observeUntil(b, def.clusterId, 'cluster gone', (o) => !o.exists);

        // Assess
        expect(gone.ready).toBe(false);
        expect((await b.list()).map((r) => r.clusterId)).not.toContain(def.clusterId);
      });

      it('succeeds when called twice and when the cluster id is unknown', async () => {
        // Prepare
        const b = await backend();
        const def = await applyNew(b, 'twice', { workers: 1 });

        // Act
        await b.teardown(def.clusterId);
        await b.teardown(def.clusterId);
        await b.teardown(uniqueId('never'));

        // Assess
        const gone = await observeUntil(b, def.clusterId, 'cluster gone', (o) => !o.exists);
        expect(gone.exists).toBe(false);
      });

      it('removes a cluster whose workers failed', async () => {
        // Prepare
        const b = await backend();
        const def = await applyNew(b, 'failgone', { workers: 1, failWorkers: true });
        await observeUntil(b, def.clusterId, 'a permanent worker failure', (o) => o.failures.some((f) => f.permanent));

        // Act
        await b.teardown(def.clusterId);

        // Assess
        const gone = await observeUntil(b, def.clusterId, 'cluster gone', (o) => !o.exists);
        expect(gone.exists).toBe(false);
      });
    });

    describe('Method: list', () => {
      it('lists exactly the clusters that hold resources', async () => {
        // Prepare
        const b = await backend();
        const one = await applyNew(b, 'list', { workers: 1 });
        const two = await applyNew(b, 'list', { workers: 1 });

        // Act
        const both = (await b.list()).map((r) => r.clusterId);
        await b.teardown(one.clusterId);
        await observeUntil(b, one.clusterId, 'first cluster gone', (o) => !o.exists);
        const after = (await b.list()).map((r) => r.clusterId);

        // Assess
        expect(both).toEqual(expect.arrayContaining([one.clusterId, two.clusterId]));
        expect(after).toContain(two.clusterId);
        expect(after).not.toContain(one.clusterId);
      });
    });
  });
}
