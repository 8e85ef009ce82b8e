import { afterEach, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard, type DashboardSource } from '../../../scheduler/dashboard.ts';
import { DashboardRecorder } from '../../../scheduler/dashboard/recorder.ts';

/** A scheduler stand-in with nothing in it: only the routes are under test. */
function source(benchGc?: () => void): DashboardSource {
  return {
    status: () => ({}) as ReturnType<DashboardSource['status']>,
    story: () => [],
    workerRows: () => [],
    address: 'tcp://127.0.0.1:1',
    token: 'secret-token',
    live: () => ({ groups: {}, workers: {} }),
    recorder: new DashboardRecorder(),
    ...(benchGc ? { benchGc } : {}),
  };
}

describe('Function: startDashboard, bench GC route', () => {
  let dashboard: Dashboard | undefined;
  afterEach(async () => {
    await dashboard?.close();
    dashboard = undefined;
  });

  it('is not served unless the bench asked for it (RECC_BENCH_GC=1 in scheduler/main.ts)', async () => {
    dashboard = await startDashboard('127.0.0.1', 0, source());
    const res = await fetch(`${dashboard.url}/api/bench/gc`, { method: 'POST', headers: { authorization: 'Bearer secret-token' } });
    expect(res.status).toBe(405);
  });

  it('needs the cluster token, and answers 204 once the collection has run', async () => {
    let runs = 0;
    dashboard = await startDashboard('127.0.0.1', 0, source(() => runs++));
    const denied = await fetch(`${dashboard.url}/api/bench/gc`, { method: 'POST', headers: { authorization: 'Bearer wrong' } });
    expect(denied.status).toBe(401);
    expect(runs).toBe(0);
    const ok = await fetch(`${dashboard.url}/api/bench/gc`, { method: 'POST', headers: { authorization: 'Bearer secret-token' } });
    expect(ok.status).toBe(204);
    expect(runs).toBe(1);
    // A GET stays the read-only API's (no collection).
    expect((await fetch(`${dashboard.url}/api/bench/gc`, { headers: { authorization: 'Bearer secret-token' } })).status).toBe(404);
    expect(runs).toBe(1);
  });
});
