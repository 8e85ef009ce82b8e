import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WorkerOutbox } from '../../../scheduler/outbox.ts';

type Sent = { w: string; op: 'compute'; keys: string[] } | { w: string; op: 'free'; keys: string[]; s: string };

function harness() {
  const sent: Sent[] = [];
  const outbox = new WorkerOutbox<string, string[]>({
    newBatch: () => [],
    sendCompute: (w, keys) => sent.push({ w, op: 'compute', keys }),
    sendFree: (w, keys, s) => sent.push({ w, op: 'free', keys, s }),
  });
  const compute = (w: string, key: string) => outbox.compute(w, key).push(key);
  return { sent, outbox, compute };
}

describe('Class: WorkerOutbox', () => {
  it('groups each worker’s computes into one batch and its frees per stimulus, computes first', () => {
    // Prepare
    const { sent, outbox, compute } = harness();

    // Act
    compute('w1', 'a');
    outbox.free('w1', ['x'], 's1');
    compute('w1', 'b');
    outbox.free('w2', ['y'], 's1');
    outbox.free('w1', ['z'], 's2');
    outbox.flush();

    // Assess
    expect(sent).toEqual([
      { w: 'w1', op: 'compute', keys: ['a', 'b'] },
      { w: 'w1', op: 'free', keys: ['x'], s: 's1' },
      { w: 'w1', op: 'free', keys: ['z'], s: 's2' },
      { w: 'w2', op: 'free', keys: ['y'], s: 's1' },
    ]);
  });

  it('sends the free of a key before its compute when the step freed it, then gave it back to the same worker', () => {
    // Prepare: a key released and resubmitted in one step, with other work around it
    const { sent, outbox, compute } = harness();

    // Act
    compute('w1', 'other');
    outbox.free('w1', ['k'], 'release-1');
    compute('w1', 'k');
    outbox.flush();

    // Assess
    expect(sent).toEqual([
      { w: 'w1', op: 'free', keys: ['k'], s: 'release-1' },
      { w: 'w1', op: 'compute', keys: ['other', 'k'] },
    ]);
  });

  it('still orders a key queued after an earlier check of the same worker’s pending keys', () => {
    // Prepare: the free of `x` makes the outbox look at w1's pending computes; `k` joins them afterwards
    const { sent, outbox, compute } = harness();

    // Act
    compute('w1', 'a');
    outbox.free('w1', ['x'], 's1');
    compute('w1', 'k');
    outbox.free('w1', ['k'], 's2');
    compute('w1', 'x');
    outbox.flush();

    // Assess: a+k go before k's free; x's free goes before x's compute
    expect(sent).toEqual([
      { w: 'w1', op: 'compute', keys: ['a', 'k'] },
      { w: 'w1', op: 'free', keys: ['x'], s: 's1' },
      { w: 'w1', op: 'free', keys: ['k'], s: 's2' },
      { w: 'w1', op: 'compute', keys: ['x'] },
    ]);
  });

  it('sends the compute of a key before its free when the step assigned it, then freed it', () => {
    const { sent, outbox, compute } = harness();
    compute('w1', 'k');
    outbox.free('w1', ['k'], 'cancel-1');
    compute('w1', 'later');
    outbox.flush();
    expect(sent).toEqual([
      { w: 'w1', op: 'compute', keys: ['k'] },
      { w: 'w1', op: 'compute', keys: ['later'] },
      { w: 'w1', op: 'free', keys: ['k'], s: 'cancel-1' },
    ]);
  });

  it('keeps the order of every compute and free of the same key on the same worker, for any sequence', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ w: fc.constantFrom('w1', 'w2'), key: fc.constantFrom('a', 'b', 'c'), free: fc.boolean(), s: fc.constantFrom('s1', 's2') }), { maxLength: 30 }), (ops) => {
        const { sent, outbox, compute } = harness();
        for (const o of ops) {
          if (o.free) outbox.free(o.w, [o.key], o.s);
          else compute(o.w, o.key);
        }
        outbox.flush();
        // Replay what was sent, per (worker, key), and compare with the instructions' order.
        const seen = new Map<string, string[]>();
        for (const m of sent) for (const k of m.keys) seen.set(`${m.w}/${k}`, [...(seen.get(`${m.w}/${k}`) ?? []), m.op]);
        const want = new Map<string, string[]>();
        for (const o of ops) want.set(`${o.w}/${o.key}`, [...(want.get(`${o.w}/${o.key}`) ?? []), o.free ? 'free' : 'compute']);
        expect(seen).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });
});
