import { computeBackendConformance } from '../../conformance/compute-backend.ts';
import { FakeComputeBackend } from '../../fakes/compute-backend.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import { planFixture, specFixture } from '../../support/local-stack-fixtures.ts';

// The scripted fake used by the provisioner tests honours the same contract as the real backends.
computeBackendConformance(
  'scripted fake',
  () => new FakeComputeBackend({ readyAfterObserves: 2, goneAfterObserves: 1 }),
  (clusterId, { workers, failWorkers }) =>
    renderCluster({
      clusterId,
      owner: 'tester',
      namespace: `ns-${clusterId}`,
      spec: specFixture({ nWorkers: workers, env: failWorkers ? { RECC_FAKE_FAIL: 'boom: cannot import research module' } : {} }),
      plan: planFixture(),
    }),
  {
    makeSecrets: () => ({ token: 't', caCertPem: 'ca', caKeyPem: 'cak', serverCertPem: 'crt', serverKeyPem: 'key' }),
    failureLogMarker: 'boom: cannot import research module',
    readyTimeoutMs: 5_000,
    pollIntervalMs: 1,
  },
);
