import { describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import type { GroupCounts, LiveView, WorkerView } from '../../../scheduler/dashboard/aggregate.ts';
import type { LiveFrame } from '../../../scheduler/dashboard/stream.ts';
import type { DashboardEvent } from '../../../scheduler/dashboard/aggregate.ts';
import { waitFor } from '../../support/wait.ts';

/** Reads the dashboard's SSE stream in the background and keeps the view a browser would build from it. */
function watch(url: string, token: string) {
  const groups = new Map<string, GroupCounts>();
  const workers = new Map<string, WorkerView>();
  const events: DashboardEvent[] = [];
  /** Task runs per group on the stream (received plus sampled out). */
  const spans = new Map<string, number>();
  let sampledOut = 0;
  const frames: string[] = [];
  const abort = new AbortController();
  const apply = <T>(m: Map<string, T>, d: Record<string, T | null> | undefined) => {
    for (const [k, v] of Object.entries(d ?? {})) if (v === null) m.delete(k);
    else m.set(k, v);
  };
  const done = (async () => {
    const res = await fetch(`${url}/api/live`, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, i);
        buf = buf.slice(i + 2);
        frames.push(frame);
        const kind = /^event: (\w+)/.exec(frame)?.[1];
        const data = JSON.parse(/\ndata: (.*)$/s.exec(frame)![1]!) as LiveFrame & LiveView;
        if (kind === 'full') {
          groups.clear();
          workers.clear();
        }
        apply(groups, data.groups);
        apply(workers, data.workers);
        events.push(...(data.events ?? []));
        for (const b of data.spans ?? []) {
          sampledOut += b.dropped;
          for (const g of b.g) spans.set(b.groups[g]!, (spans.get(b.groups[g]!) ?? 0) + 1);
        }
      }
    }
  })().catch((err: unknown) => {
    if (!abort.signal.aborted) throw err;
  });
  return { groups, workers, events, frames, spans, sampledOut: () => sampledOut, stop: async () => (abort.abort(), await done) };
}

describe('Live cluster dashboard', () => {
  it('requires the token, exchanges ?token= for an HttpOnly cookie, serves a strict CSP, keeps /health open', async () => {
    await using cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1, dashboard: true });
    const base = cluster.dashboardUrl!;
    for (const path of ['/', '/api/live', '/dashboard.js']) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(401);
      expect(await res.text(), path).not.toMatch(/<html|EventSource/);
    }
    expect((await fetch(`${base}/?token=wrong`)).status).toBe(401);
    expect((await fetch(`${base}/`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${base}/health`)).status).toBe(200);

    const exchanged = await fetch(`${base}/?token=${encodeURIComponent(cluster.token)}`, { redirect: 'manual' });
    expect(exchanged.status).toBe(303);
    expect(exchanged.headers.get('location')).toBe('/');
    const cookie = exchanged.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(cluster.token);

    const page = await fetch(`${base}/`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    const html = await page.text();
    expect(html).toContain('<script src="/dashboard.js"');
    expect(html).not.toContain(cluster.token);
    expect(html).not.toMatch(/http-equiv="refresh"/);
  });

  it('streams task-group progress to done, worker memory, and a lost worker in the event log', async () => {
    await using cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 2, dashboard: true, restartWorkers: false });
    await using client = await Client.connect(cluster);
    expect(client.dashboardUrl).toBe(cluster.dashboardUrl);
    expect(client.dashboardUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const live = watch(cluster.dashboardUrl!, cluster.token);
    try {
      await waitFor(() => live.workers.size === 2 || undefined, { what: 'both workers on the stream' });
      const futures = client.map((x: number) => x * 2, Array.from({ length: 400 }, (_, i) => i));
      const results = await client.gather(futures);
      expect(results).toHaveLength(400);
      const group = await waitFor(
        () => [...live.groups.entries()].find(([, c]) => c.memory === 400 && c.waiting + c.queued + c.processing + c.erred === 0),
        { what: 'a task group with all 400 tasks in memory on the stream' },
      );
      const status = await client.schedulerInfo();
      expect(group[1].memory).toBe(status.status.tasksInMemory);
      // The task stream: all 400 runs of the group, none sampled out at this rate.
      await waitFor(() => live.spans.get(group[0]) === 400 || undefined, { what: 'the task stream to carry 400 runs' });
      expect(live.sampledOut()).toBe(0);
      await waitFor(() => [...live.workers.values()].every((w) => w.managed + w.unmanaged > 0 && w.cpu !== null) || undefined, { what: 'memory and CPU figures for every worker' });
      for (const w of live.workers.values()) expect(w.cpuLimit).toBeGreaterThan(0);
      for (const w of live.workers.values()) expect(w.stored).toBeGreaterThan(0);

      const victim = status.workers[0]!;
      process.kill(victim.pid!, 'SIGKILL');
      const lost = await waitFor(() => live.events.find((e) => e.kind === 'worker-lost'), { what: 'a worker-lost event' });
      expect(lost.message).toContain(victim.name);
      expect(live.events.filter((e) => e.kind === 'worker-joined')).toHaveLength(2);
      // Deltas, not full snapshots: after the first frame, no frame repeats the whole view.
      expect(live.frames.slice(1).every((f) => f.startsWith('event: delta'))).toBe(true);
    } finally {
      await live.stop();
    }
  });
});
