import { afterEach, describe, expect, it } from 'vitest';
import { startFakeWorkers } from '../../../bench/recc/fake-workers.ts';
import { Client } from '../../../client/index.ts';
import type { Comm } from '../../../comm/comm.ts';
import { connect } from '../../../comm/handshake.ts';
import { SchedulerServer } from '../../../scheduler/server.ts';
import type { SchedulerEvent } from '../../../scheduler/state/types.ts';
import { KEYS_PER_EVENT, eventWeight, runsOf, takeTurn } from '../../../scheduler/turns.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { waitFor } from '../../support/wait.ts';

const TOKEN = 'turns-test-token';
const ARGS = new Uint8Array([0x91, 0x01]);
const FNS: Array<[string, { kind: 'inline'; name: string; source: string }]> = [['f1', { kind: 'inline', name: 'f', source: '(x) => x' }]];

function graph(keys: string[], clientId = 'c'): SchedulerEvent {
  return { type: 'update-graph', clientId, tasks: keys.map((key) => ({ key, run: null, deps: [] })), wants: keys, stimulusId: 's' };
}

describe('Module: scheduler/turns', () => {
  it("weighs a client's event by the tasks and keys it carries, and workers' events as nothing", () => {
    expect(eventWeight(graph(['a', 'b', 'c']))).toBe(6);
    expect(eventWeight({ type: 'client-releases', clientId: 'c', keys: ['a', 'b'], stimulusId: 's' })).toBe(2);
    expect(eventWeight({ type: 'cancel', clientId: 'c', keys: ['a'], stimulusId: 's' })).toBe(1);
    expect(eventWeight({ type: 'tasks-finished', workerId: 'w', keys: ['a'], nbytes: [1], durationsMs: [1], stimulusId: 's' })).toBe(0);
    expect(eventWeight({ type: 'tick', stimulusId: 's' })).toBe(0);
  });

  it('takes events up to the one that reaches the budget, and always at least one', () => {
    const events = [graph(['a', 'b']), graph(['c', 'd']), graph(['e'])]; // weights 4, 4, 2
    expect(takeTurn(events, 100)).toEqual({ count: 3, weight: 10 });
    expect(takeTurn(events, 5)).toEqual({ count: 2, weight: 8 });
    expect(takeTurn(events, 4)).toEqual({ count: 1, weight: 4 });
    expect(takeTurn(events, 0)).toEqual({ count: 1, weight: 4 });
    expect(takeTurn([], 10)).toEqual({ count: 0, weight: 0 });
    const tick: SchedulerEvent = { type: 'tick', stimulusId: 's' };
    expect(takeTurn([tick, tick, graph(['a']), tick], 1)).toEqual({ count: 3, weight: 2 });
  });

  it('cuts a list into ordered runs of at most the given size', () => {
    expect(runsOf([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(runsOf([1, 2], 2)).toEqual([[1, 2]]);
    expect(runsOf([], 2)).toEqual([[]]);
  });
});

describe('Class: SchedulerServer, work per event-loop turn', () => {
  let server: SchedulerServer | undefined;
  const comms: Comm[] = [];
  afterEach(async () => {
    for (const c of comms.splice(0)) c.destroy();
    await server?.close();
    server = undefined;
  });

  /** A server whose state machine's `handle` calls are recorded, with how many event-loop turns had passed at each. */
  async function recordedServer(turnBudget?: number) {
    const s = new SchedulerServer({ host: '127.0.0.1', port: 0, token: TOKEN, logger: silentLogger, ...(turnBudget ? { turnBudget } : {}) });
    server = s;
    await s.start();
    let turns = 0;
    let counting = true;
    const count = () => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const calls: Array<{ events: SchedulerEvent[]; turn: number }> = [];
    const handle = s.state.handle.bind(s.state);
    s.state.handle = (events, now) => {
      calls.push({ events: [...events], turn: turns });
      return handle(events, now);
    };
    const stop = () => (counting = false);
    return { s, calls, stop };
  }

  async function client(s: SchedulerServer): Promise<Comm> {
    const { comm } = await connect(s.address, { token: TOKEN, hello: { role: 'client' } });
    comms.push(comm);
    return comm;
  }

  it('handles a burst of graphs a budget at a time, yielding to the event loop between, and answers a query after the graphs before it', async () => {
    // Prepare
    const { s, calls, stop } = await recordedServer(100);
    const c = await client(s);
    const replies: Array<{ id?: number; states?: string[] }> = [];
    c.onMessage((m) => replies.push(m as (typeof replies)[number]));

    // Act: eight graphs of 30 tasks (weight 60 each) and a query, sent in one go
    const keys: string[] = [];
    for (let g = 0; g < 8; g++) {
      const chunk = Array.from({ length: 30 }, (_, i) => `t-${g}-${i}`);
      keys.push(...chunk);
      c.send({ op: 'update-graph', tasks: chunk.map((key) => ({ key, fn: 'f1', args: ARGS, deps: [], resources: null, retries: 0 })), wants: chunk, fns: g === 0 ? FNS : [] });
    }
    c.send({ op: 'task-states', id: 1, keys });
    const reply = await waitFor(() => replies.find((r) => r.id === 1), { what: 'the answer to task-states' });
    stop();

    // Assess: no call took more than two graphs (60 + 60 reaches 100); consecutive full turns are separate event-loop turns
    const graphCalls = calls.filter((k) => k.events.some((e) => e.type === 'update-graph'));
    expect(graphCalls.flatMap((k) => k.events.filter((e) => e.type === 'update-graph')).length).toBe(8);
    expect(Math.max(...graphCalls.map((k) => k.events.filter((e) => e.type === 'update-graph').length))).toBeLessThanOrEqual(2);
    expect(graphCalls.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < graphCalls.length; i++) expect(graphCalls[i]!.turn).toBeGreaterThan(graphCalls[i - 1]!.turn);
    // The query came after the graphs, and saw all of them.
    expect(reply.states).toHaveLength(keys.length);
    expect(new Set(reply.states)).toEqual(new Set(['queued']));
  });

  it(`releases a client's futures in runs of ${KEYS_PER_EVENT} keys, both when it releases them and when it disconnects holding them`, async () => {
    // Prepare: a client holding KEYS_PER_EVENT + 5,000 futures, and a second holding as many
    const { s, calls, stop } = await recordedServer();
    const n = KEYS_PER_EVENT + 5_000;
    const [a, b] = [await client(s), await client(s)];
    for (const [c, prefix] of [[a, 'a'], [b, 'b']] as const) {
      const ks = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
      c.send({ op: 'update-graph', tasks: ks.map((key) => ({ key, fn: 'f1', args: ARGS, deps: [], resources: null, retries: 0 })), wants: ks, fns: FNS });
    }
    await waitFor(() => s.status().tasksTotal === 2 * n || undefined, { what: 'both graphs' });

    // Act: one releases all its futures in one message; the other disconnects
    a.send({ op: 'release-keys', keys: Array.from({ length: n }, (_, i) => `a-${i}`) });
    b.destroy();
    await waitFor(() => s.status().tasksTotal === 0 || undefined, { what: 'every task to be forgotten' });
    await waitFor(() => calls.some((k) => k.events.some((e) => e.type === 'remove-client')) || undefined, { what: 'the disconnected client to be removed' });
    stop();

    // Assess: each release arrived as events of at most KEYS_PER_EVENT keys, in order
    const events = calls.flatMap((k) => k.events);
    const releases = (prefix: string) => events.filter((e): e is Extract<SchedulerEvent, { type: 'client-releases' }> => e.type === 'client-releases' && e.keys[0]!.startsWith(prefix));
    for (const prefix of ['a-', 'b-']) {
      expect(releases(prefix).map((e) => e.keys.length)).toEqual([KEYS_PER_EVENT, 5_000]);
      expect(releases(prefix).flatMap((e) => e.keys)).toEqual(Array.from({ length: n }, (_, i) => `${prefix}${i}`));
    }
    const removeAt = events.findIndex((e) => e.type === 'remove-client');
    expect(removeAt).toBeGreaterThan(events.indexOf(releases('b-')[1]!));
  });

  it('delivers results that came inline with their worker message even when that message waits for a later turn', async () => {
    // Prepare: a small budget, so most worker messages wait behind others; fake workers serve no data, so a
    // result the scheduler dropped could not be fetched either
    const { s, stop } = await recordedServer(50);
    const workers = await startFakeWorkers({ address: s.address, token: TOKEN, count: 8, nthreads: 2 });
    const client = await Client.connect(s.address, { token: TOKEN });
    try {
      // Act: 100 small maps (each one update-graph over the budget), so workers' results queue behind graphs
      const items = Array.from({ length: 3_000 }, (_, i) => i);
      const futures = Array.from({ length: 100 }, (_, m) => client.map((x: number) => x, items.slice(m * 30, m * 30 + 30))).flat();
      const results = await client.gather(futures);

      // Assess
      expect(results).toEqual(items);
    } finally {
      stop();
      await client.close();
      await workers.close();
    }
  });
});
