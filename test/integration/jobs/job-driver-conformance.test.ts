import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { MemoryDatastore } from '../../../adapters/datastores/memory.ts';
import { EksJobDriver } from '../../../adapters/eks/job-driver.ts';
import { DatastoreRunLogStore } from '../../../adapters/jobs/run-logs.ts';
import { LocalJobDriver } from '../../../adapters/jobs/local-driver.ts';
import { newRunRecord } from '../../../shared/jobs/run-machine.ts';
import type { JobRecord } from '../../../shared/jobs/types.ts';
import { jobDriverConformance, type DriverScript } from '../../conformance/job-driver.ts';
import { sampleJob } from '../../conformance/job-store.ts';
import { TEST_EKS_CONFIG, startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

let seq = 0;
let sourceDir: string;
let stateDir: string;
let stack: EksStack;
const locals: LocalJobDriver[] = [];

beforeAll(async () => {
  sourceDir = await mkdtemp(join(tmpdir(), 'recc-driver-conf-src-'));
  stateDir = await mkdtemp(join(tmpdir(), 'recc-driver-conf-state-'));
  await writeFile(join(sourceDir, 'package.json'), '{"type":"module"}\n');
  stack = await startEksStack();
});
afterAll(async () => {
  for (const d of locals) await d.close();
  await stack.close();
  await rm(sourceDir, { recursive: true, force: true });
  await rm(stateDir, { recursive: true, force: true });
});

function runFor(job: JobRecord) {
  seq += 1;
  const at = new Date(Date.UTC(2026, 11, 5, 0, seq)).toISOString();
  return newRunRecord({ id: `r-${job.id.slice(2)}-${seq}`, jobId: job.id, jobName: job.name, owner: job.owner, scheduledAt: at, trigger: 'manual', at, ttlDays: 1 }, { actor: 't', stimulusId: 's' }).run;
}

jobDriverConformance('local child process', async () => {
  const driver = new LocalJobDriver({ stateDir, apiUrl: 'http://127.0.0.1:9', sourceDir, baseEnv: { PATH: process.env.PATH }, killGraceMs: 2000 });
  locals.push(driver);
  return {
    driver,
    tick: () => undefined,
    prepare: async (script: DriverScript) => {
      seq += 1;
      const module = `driver-${seq}.ts`;
      const body = script.exitCode === undefined ? 'setInterval(() => undefined, 1000);' : `process.exitCode = ${script.exitCode};`;
      await writeFile(join(sourceDir, module), `process.stderr.write(${JSON.stringify(script.output)});\n${body}\n`);
      const job = { ...sampleJob('alice', `conf-${seq}`), entry: { kind: 'module' as const, module, params: {} } };
      return { run: runFor(job), job, clusterId: `c-local-${seq}` };
    },
  };
});

jobDriverConformance('EKS (a Kubernetes Job on the fake API server)', async () => {
  const driver = new EksJobDriver({ kube: stack.kube, config: TEST_EKS_CONFIG, logs: new DatastoreRunLogStore(new MemoryDatastore('RUNLOGS')) });
  const backend = stack.makeBackend();
  return {
    driver,
    tick: () => stack.fake.tick(),
    prepare: async (script: DriverScript) => {
      seq += 1;
      const job = sampleJob('alice', `conf-${seq}`);
      const def = testDefinition({ clusterId: `c-conf-${seq}`, owner: 'alice', workers: 1, job: job.name });
      await backend.apply(def, testSecrets(def.clusterId));
      const run = runFor(job);
      stack.fake.kubelet.jobs.addScript({ match: { labels: { 'recc.io/run': run.id } }, startLog: script.output, ...(script.exitCode === undefined ? {} : { exitCode: script.exitCode }) });
      return { run, job, clusterId: def.clusterId };
    },
  };
});
