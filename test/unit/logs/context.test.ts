import { describe, expect, it } from 'vitest';
import { logContextFromEnv } from '../../../adapters/logs/context.ts';

describe('logContextFromEnv', () => {
  it('names the run of a job driver from RECC_JOB_RUN, the name both job drivers set', () => {
    // Act
    const ctx = logContextFromEnv({ RECC_CLUSTER_ID: 'c-1', RECC_OWNER: 'alice', RECC_NAMESPACE: 'recc-alice-c-1', RECC_JOB: 'nightly', RECC_JOB_RUN: 'r-nightly-20261204', POD_NAME: 'recc-driver-x' }, 'driver');

    // Assess
    expect(ctx).toEqual({ component: 'driver', clusterId: 'c-1', user: 'alice', namespace: 'recc-alice-c-1', job: 'nightly', runId: 'r-nightly-20261204', pod: 'recc-driver-x' });
  });

  it('prefers RECC_RUN_ID, falls back to HOSTNAME for the pod, and leaves out what is blank', () => {
    // Act
    const ctx = logContextFromEnv({ RECC_RUN_ID: 'r-2', RECC_JOB_RUN: 'r-other', RECC_OWNER: '  ', HOSTNAME: 'host-1' }, 'worker');

    // Assess
    expect(ctx).toEqual({ component: 'worker', runId: 'r-2', pod: 'host-1' });
  });
});
