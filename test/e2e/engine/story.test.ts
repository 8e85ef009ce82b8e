import { describe, expect, it } from 'vitest';
import { Client, LocalCluster, type StoryEntry } from '../../../client/index.ts';
import { waitForExit } from '../../support/engine.ts';
import { waitFor } from '../../support/wait.ts';

describe('Method: client.story', () => {
  it('tells how a task was retried after its worker was killed, every transition with its stimulus id', async () => {
    // Prepare: a task of about 2 s on one of 2 single-thread workers
    await using cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, dashboard: true });
    const pids = cluster.pids;
    await using client = await Client.connect(cluster);
    const future = client.submitWith({ pure: false }, (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end);
      return 'done';
    }, 2000);
    const busy = await waitFor(async () => (await client.schedulerInfo()).workers.find((w) => w.processing > 0), { what: 'the task to be processing on a worker' });

    // Act: kill -9 the worker running it
    process.kill(busy.pid!, 'SIGKILL');
    expect(await future.result()).toBe('done');

    // Assess: the scheduler's story of the key, over the wire and over HTTP
    const story = await client.story(future);
    const line = (e: StoryEntry) => `${e.from} → ${e.to} (${e.stimulusId})`;
    const told = story.map(line).join('\n');
    for (const e of story) {
      expect(e.key).toBe(future.key);
      expect(e.stimulusId, told).toMatch(/^[a-z-]+-\d+$/);
      expect(e.time).toBeGreaterThan(0);
    }
    expect(story[0], told).toMatchObject({ stimulusId: expect.stringMatching(/^update-graph-/) });
    expect(story.filter((e) => e.to === 'processing').length, told).toBeGreaterThanOrEqual(2);
    expect(story.find((e) => e.from === 'processing' && e.stimulusId.startsWith('remove-worker-')), told).toBeDefined();
    expect(story.at(-1), told).toMatchObject({ from: 'processing', to: 'memory', stimulusId: expect.stringMatching(/^finished-/) });
    for (let i = 1; i < story.length; i++) expect(story[i]!.from, told).toBe(story[i - 1]!.to);
    const http = (await (await fetch(`${cluster.dashboardUrl}/api/story/${encodeURIComponent(future.key)}`, { headers: { authorization: `Bearer ${cluster.token}` } })).json()) as { key: string; story: StoryEntry[] };
    expect(http).toEqual({ key: future.key, story });
    expect(await client.story('never-submitted')).toEqual([]);

    await client.close();
    await cluster.close();
    await waitForExit(pids);
  });
});
