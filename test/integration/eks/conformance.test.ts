import { afterAll, beforeAll } from 'vitest';
import { computeBackendConformance } from '../../conformance/compute-backend.ts';
import { startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * The EKS backend passes the same ComputeBackend contract as the local
 * backend, against the fake Kubernetes API server (real HTTP, client-node
 * 1.4.0) and the mocked Auto Scaling / EKS APIs. A failing worker is induced
 * the way it fails on EKS: the kubelet is told that containers of that image
 * crash-loop, and their log says why.
 */
const CRASH_IMAGE = 'registry.example.org/recc:crash-at-start';
const CRASH_LOG = 'Traceback (most recent call last):\nModuleNotFoundError: No module named research_code\n';

let stack: EksStack;

beforeAll(async () => {
  stack = await startEksStack();
  stack.fake.kubelet.addRule({
    match: { component: 'worker', image: CRASH_IMAGE },
    failure: { kind: 'CrashLoopBackOff', log: CRASH_LOG, exitCode: 1 },
  });
});

afterAll(async () => {
  await stack?.close();
});

computeBackendConformance(
  'eks (fake Kubernetes API server + mocked AWS)',
  () => stack.makeBackend(),
  (clusterId, request) => {
    const def = testDefinition({ clusterId, workers: request.workers });
    if (!request.failWorkers) return def;
    return { ...def, workers: { ...def.workers, image: CRASH_IMAGE } };
  },
  {
    makeSecrets: (def) => testSecrets(def.clusterId),
    failureLogMarker: 'No module named research_code',
    readyTimeoutMs: 20_000,
    pollIntervalMs: 20,
  },
);
