import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalProcessBackend } from '../../../adapters/local-backend/index.ts';
import { generateClusterSecrets } from '../../../adapters/secrets/index.ts';
import { Client } from '../../../client/index.ts';
import { secretsRequestFor } from '../../../control/provisioner.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import { resolveSpec } from '../../../shared/spec/resolve.ts';
import { planFixture } from '../../support/local-stack-fixtures.ts';
import { processesOfCluster, tempStateDir } from '../../support/local-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * A cluster spec's datastores reach a real local-backend worker process:
 * its loader sees the spec's stores and read order, and a task writes
 * through the configured local root.
 */
const stateDir = tempStateDir('datastores-worker');
const dirs: string[] = [];

afterAll(async () => {
  const b = new LocalProcessBackend({ stateDir, baseEnv: process.env });
  for (const ref of await b.list()) await b.teardown(ref.clusterId);
  await Promise.all([stateDir, ...dirs].map((d) => rm(d, { recursive: true, force: true })));
});

describe('cluster spec datastores on the local backend', () => {
  it('a worker sees the spec\'s stores and writes through its local root', async () => {
    const data = await mkdtemp(join(tmpdir(), 'recc-worker-ds-'));
    dirs.push(data);
    const spec = resolveSpec({
      overrides: {
        nWorkers: 1,
        workerCpu: 1,
        workerMemoryGiB: 1,
        datastores: {
          stores: {
            FP_LOCAL: { type: 'local', root: join(data, 'fp') },
            S3: { type: 's3', bucket: 'research-data', prefix: 'prices/' },
          },
          read: ['FP_LOCAL', 'S3'],
          write: 'FP_LOCAL',
        },
      },
    });
    const def = renderCluster({ clusterId: 'ds-1', owner: 'tester', namespace: 'recc-tester-ds-1', spec, plan: planFixture() });
    const secrets = await generateClusterSecrets(secretsRequestFor(def));
    // The stack's own environment must not decide: the spec does.
    const { RECC_DATASTORES_READ: _r, RECC_DATASTORES_WRITE: _w, ...baseEnv } = process.env;
    const backend = new LocalProcessBackend({ stateDir, baseEnv });
    await backend.apply(def, secrets);
    try {
      const ready = await waitFor(async () => {
        const o = await backend.observe('ds-1');
        return o.ready && o.schedulerAddress ? o : undefined;
      }, { what: 'cluster ready', timeoutMs: 90_000 });
      const client = await Client.connect(ready.schedulerAddress as string, { token: secrets.token, caPem: secrets.caCertPem });
      try {
        const mod = await client.module(fileURLToPath(new URL('./fixtures/worker-datastores.ts', import.meta.url)));
        const seen = (await client.submit(mod.fn('workerDatastores')).result()) as { read: string[]; write: string; roots: Record<string, string>; sources: string[] };
        expect(seen.read).toEqual(['FP_LOCAL', 'S3']);
        expect(seen.write).toBe('FP_LOCAL');
        expect(seen.roots.FP_LOCAL).toBe(join(data, 'fp'));
        expect(seen.roots.S3).toBe('s3://research-data/prices/');
        expect(seen.sources).toContain('cluster spec (RECC_DATASTORES_JSON)');
        const where = await client.submit(mod.fn('writeThroughTarget'), 'written/by-worker.txt', 'hello from a worker').result();
        expect(where).toBe(`FP_LOCAL local:${join(data, 'fp')}`);
        expect(await readFile(join(data, 'fp', 'written', 'by-worker.txt'), 'utf8')).toBe('hello from a worker');
      } finally {
        await client.close();
      }
    } finally {
      await backend.teardown('ds-1');
    }
    expect(processesOfCluster('ds-1')).toEqual([]);
  }, 120_000);
});
