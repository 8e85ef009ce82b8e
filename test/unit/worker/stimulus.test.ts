import { afterEach, describe, expect, it } from 'vitest';
import type { Comm, Message } from '../../../comm/comm.ts';
import { listen, type Listener } from '../../../comm/handshake.ts';
import { encodeValue } from '../../../comm/payload.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { Worker } from '../../../worker/worker.ts';
import { waitFor } from '../../support/wait.ts';

const TOKEN = 'stimulus-test-token';
let listener: Listener | undefined;
let worker: Worker | undefined;

afterEach(async () => {
  await worker?.close();
  await listener?.close();
  worker = undefined;
  listener = undefined;
});

describe('Class: Worker (stimulus ids from the wire)', () => {
  it("records the scheduler's stimulus id of a compute and of a free in the worker's story of the key", async () => {
    // Prepare: a stand-in scheduler and a real worker connected to it
    let scheduler: Comm | undefined;
    const got: Message[] = [];
    listener = await listen({
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      logger: silentLogger,
      accept: (comm, hello) => {
        scheduler = comm;
        comm.onMessage((m) => got.push(m));
        return { workerId: String(hello.address) };
      },
    });
    worker = new Worker({ schedulerAddress: listener.address, token: TOKEN, name: 'w-stim', logger: silentLogger });
    await worker.start();
    const comm = await waitFor(() => scheduler, { what: 'the worker to connect' });

    // Act: compute two tasks under one stimulus, then free one under another
    comm.send({ op: 'fns', defs: [['f', { kind: 'inline', name: 'inc', source: '(x) => x + 1' }]] });
    comm.send({ op: 'compute-batch', k: ['inc-1', 'inc-2'], f: 'f', a: [encodeValue([1]), encodeValue([2])], d: 0, p: [0, 1], s: 'update-graph-7' });
    await waitFor(() => got.filter((m) => m.op === 'finished').flatMap((m) => m.k as string[]).length >= 2 || undefined, { what: 'both tasks to finish' });
    comm.send({ op: 'free-keys', keys: ['inc-1'], s: 'client-releases-8' });
    await waitFor(() => worker!.story('inc-1').some((e) => e.stimulusId === 'client-releases-8') || undefined, { what: 'the free to reach the machine' });

    // Assess: the transitions the scheduler caused carry its ids; the result carries the worker's own
    const story = worker.story('inc-1');
    const told = story.map((e) => `${e.from} → ${e.to} (${e.stimulusId})`).join('\n');
    expect(story[0], told).toMatchObject({ key: 'inc-1', stimulusId: 'update-graph-7' });
    expect(story.filter((e) => e.stimulusId === 'update-graph-7').map((e) => e.to), told).toContain('executing');
    expect(story.find((e) => e.to === 'memory')?.stimulusId, told).toMatch(/^exec-\d+$/);
    expect(story.at(-1), told).toMatchObject({ from: 'memory', stimulusId: 'client-releases-8' });
    expect(worker.story('inc-2').every((e) => e.stimulusId !== 'compute'), told).toBe(true);
  });
});
