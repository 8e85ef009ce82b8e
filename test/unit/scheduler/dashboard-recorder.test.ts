import { describe, expect, it } from 'vitest';
import { BandwidthMeter, diffViews, emptyCounts, workerView } from '../../../scheduler/dashboard/aggregate.ts';
import { DashboardRecorder, SPAN_RING, MAX_STREAM_GROUPS } from '../../../scheduler/dashboard/recorder.ts';

describe('Class: DashboardRecorder', () => {
  describe('Method: takeSpans', () => {
    it('gives each finished task a span ending on arrival, on its worker thread, with batch-local name tables', () => {
      let now = 10_000;
      const r = new DashboardRecorder(() => now);
      r.finished('w1', ['inc-1', 'inc-2'], [5, 2.25], [0, 1]);
      now = 10_050;
      r.finished('w2', ['sum-1'], [40], undefined);
      const b = r.takeSpans()!;
      expect(b.workers).toEqual(['w1', 'w2']);
      expect(b.groups).toEqual(['inc', 'sum']);
      expect(b.t0).toBe(9_995);
      expect(b.s.map((s) => b.t0 + s)).toEqual([9_995, 9_998, 10_010]);
      expect(b.d).toEqual([5, 2.3, 40]);
      expect(b.th).toEqual([0, 1, -1]);
      expect(b.w).toEqual([0, 0, 1]);
      expect(b.dropped).toBe(0);
      expect(r.takeSpans()).toBeNull();
    });

    it('names the group by the key prefix (a key without a dash is its own group), and counts an unknown run time as zero', () => {
      const r = new DashboardRecorder(() => 1);
      r.finished('w', ['a-1', 'solo', 'a-2'], [1, 1, -1], [0, 0, 0]);
      const b = r.takeSpans()!;
      expect(b.groups).toEqual(['a', 'solo']);
      expect(b.g).toEqual([0, 1, 0]);
      expect(b.d).toEqual([1, 1, 0]);
    });

    it('samples evenly across batches above the cap and reports what it dropped', () => {
      const r = new DashboardRecorder(() => 1);
      // 10 batches of 1,000: keys name their batch and position.
      for (let k = 0; k < 10; k++) r.finished(`w${k}`, Array.from({ length: 1_000 }, (_, i) => `b${k}-${i}`), new Array(1_000).fill(1), undefined);
      const b = r.takeSpans(100)!;
      expect(b.w).toHaveLength(100);
      expect(b.dropped).toBe(10_000 - 100);
      // Every tenth span of the concatenation: ten from each batch, so every worker and group appears.
      expect(b.workers).toEqual(Array.from({ length: 10 }, (_, k) => `w${k}`));
      expect(b.groups).toEqual(Array.from({ length: 10 }, (_, k) => `b${k}`));
      expect(b.w.filter((x) => x === 3)).toHaveLength(10);
      expect(r.takeSpans()).toBeNull();
    });

    it('counts the spans the ring overwrote as dropped', () => {
      const r = new DashboardRecorder(() => 1);
      const n = SPAN_RING / 2 + 1_000;
      for (let k = 0; k < n; k++) r.finished('w', [`t-${k}`, `t-${k}b`], [1, 1], undefined);
      const b = r.takeSpans(100)!;
      expect(b.w).toHaveLength(100);
      expect(b.dropped).toBe(2 * n - 100);
      expect(b.w.length + b.dropped).toBe(2 * n);
    });

    it('after a busy tick records only a stride of the spans, still spread over every batch and with every finished task counted', () => {
      const r = new DashboardRecorder(() => 1);
      const tick = (k0: number) => {
        // 40 batches of 250 from 40 workers and groups: 10,000 spans.
        for (let k = k0; k < k0 + 40; k++) r.finished(`w${k}`, Array.from({ length: 250 }, (_, i) => `g${k % 40}-${i}`), new Array(250).fill(1), new Array(250).fill(0));
        return r.takeSpans(500)!;
      };
      const first = tick(0);
      expect(first.w.length + first.dropped).toBe(10_000);
      // The next tick recorded every 10th span (twice the cap at the last rate), then sampled evenly to the cap.
      const second = tick(40);
      expect(second.w).toHaveLength(500);
      expect(second.w.length + second.dropped).toBe(10_000);
      expect(second.workers).toEqual(Array.from({ length: 40 }, (_, k) => `w${k + 40}`));
      expect(second.groups).toEqual(Array.from({ length: 40 }, (_, k) => `g${k}`));
      // Few spans between two picks: nothing drawn, still counted.
      r.finished('w', ['a-1'], [1], undefined);
      const sparse = r.takeSpans(500)!;
      expect(sparse.w.length + sparse.dropped).toBe(1);
      // A quiet tick sets the stride back to every span.
      r.finished('w', ['a-2', 'a-3'], [1, 1], undefined);
      expect(r.takeSpans(500)!.w).toHaveLength(2);
    });

    it('records nothing while not recording (nobody watches)', () => {
      const r = new DashboardRecorder(() => 1);
      r.recording = false;
      r.finished('w', ['a-1'], [1], undefined);
      expect(r.takeSpans()).toBeNull();
      r.recording = true;
      r.finished('w', ['a-2'], [1], undefined);
      expect(r.takeSpans()!.w).toHaveLength(1);
    });

    it('gives the 65th and later groups one shared name, so unique keys cannot grow the tables', () => {
      const r = new DashboardRecorder(() => 1);
      const keys = Array.from({ length: MAX_STREAM_GROUPS + 10 }, (_, i) => `g${i}-x`);
      r.finished('w', keys, new Array(keys.length).fill(1), undefined);
      const b = r.takeSpans()!;
      expect(b.groups).toHaveLength(MAX_STREAM_GROUPS + 1);
      expect(b.groups).toContain('(other groups)');
    });

    it('keeps odd names such as __proto__ and constructor as plain strings', () => {
      const r = new DashboardRecorder(() => 1);
      r.finished('__proto__', ['constructor-1', '__proto__-2'], [1, 1], [0, 0]);
      const b = r.takeSpans()!;
      expect(b.workers).toEqual(['__proto__']);
      expect(b.groups).toEqual(['constructor', '__proto__']);
    });
  });

  describe('Method: events', () => {
    it('tells joins, losses with their reason, restarts, retries, errors and KilledWorker apart', () => {
      const r = new DashboardRecorder(() => Date.UTC(2026, 0, 1));
      r.workerJoined('w1', 2);
      r.workerRemoved('w1', 'connection reset', [{ key: 'inc-1', suspicious: 2 }, { key: 'inc-2', suspicious: 0 }], 3);
      r.workerJoined('w1', 2);
      r.taskErred('flaky-1', 2, { name: 'Error', message: 'boom' });
      r.taskErred('flaky-1', 0, { name: 'Error', message: 'boom' });
      r.taskErred('late-1', undefined, { name: 'Error', message: 'ignored' });
      const events = r.takeEvents();
      expect(events.map((e) => e.kind)).toEqual(['worker-joined', 'worker-lost', 'killed-worker', 'worker-restarted', 'task-retried', 'task-erred']);
      expect(events[1]!.message).toBe('worker w1 lost: connection reset (2 task(s) were running on it)');
      expect(events[2]!.message).toContain('inc-1');
      expect(events[2]!.message).not.toContain('inc-2');
      expect(events[4]!.message).toContain('1 retry left');
      expect(events[0]!.at).toBe('2026-01-01T00:00:00.000Z');
      expect(r.takeEvents()).toEqual([]);
    });

    it('keeps at most 1,000 events between two drains', () => {
      const r = new DashboardRecorder();
      for (let i = 0; i < 5_000; i++) r.taskErred(`t-${i}`, 0, { name: 'E', message: 'x' });
      const events = r.takeEvents();
      expect(events).toHaveLength(1_000);
      expect(events[999]!.message).toContain('t-4999');
    });
  });
});

describe('Class: BandwidthMeter', () => {
  const worker = (transferBytes: number, shuffleBytes: number) =>
    workerView({ name: 'w', address: 'a', nthreads: 1, processing: 0, stored: 0, memoryLimit: null, metrics: { transferBytes, shuffleBytes } });

  it('turns running totals into bytes per second over its window; a worker leaving takes nothing away', () => {
    const m = new BandwidthMeter(2_000);
    expect(m.sample(0, { a: worker(0, 0) })).toEqual({ t: 0, transfer: 0, shuffle: 0 });
    expect(m.sample(1_000, { a: worker(1_000, 4_000), b: worker(1_000, 0) })).toEqual({ t: 1_000, transfer: 2_000, shuffle: 4_000 });
    // a leaves; b's totals are unchanged: the rate falls as the window slides, never below zero
    const later = m.sample(2_000, { b: worker(1_000, 0) });
    expect(later.transfer).toBe(1_000);
    expect(m.sample(4_500, { b: worker(1_000, 0) })).toEqual({ t: 4_500, transfer: 0, shuffle: 0 });
  });

  it('reads garbage metrics as zero', () => {
    const v = workerView({ name: 'w', address: 'a', nthreads: 1, processing: 0, stored: 0, memoryLimit: null, metrics: { cpu: -1, cpuLimit: 0, transferBytes: Number.NaN, shuffleBytes: true } });
    expect([v.cpu, v.cpuLimit, v.transferBytes, v.shuffleBytes]).toEqual([0, null, 0, 0]);
  });
});

describe('Function: diffViews', () => {
  it('sends only changed, new and removed groups and workers (null marks a removal)', () => {
    const w = workerView({ name: 'w', address: 'a', nthreads: 1, processing: 0, stored: 0, memoryLimit: null, metrics: {} });
    const prev = { groups: { a: { ...emptyCounts(), memory: 1 }, b: emptyCounts() }, workers: { a: w, gone: w } };
    const next = { groups: { a: { ...emptyCounts(), memory: 1 }, b: { ...emptyCounts(), erred: 1 }, c: emptyCounts() }, workers: { a: { ...w } } };
    expect(diffViews(prev, next)).toEqual({ groups: { b: next.groups.b, c: next.groups.c }, workers: { gone: null } });
    expect(diffViews(next, next)).toEqual({});
    // A field turning from a number to null is a change.
    expect(diffViews({ groups: {}, workers: { a: { ...w, cpu: 1 } } }, { groups: {}, workers: { a: w } }).workers).toEqual({ a: w });
  });
});

describe('Class: LiveFeed', () => {
  /** A stand-in for the SSE response: collects the frames written to it. */
  function viewer() {
    const frames: Array<{ event: string; data: any }> = [];
    const res = {
      writeHead: () => res,
      write: (text: string) => {
        const [head, data] = text.split('\n');
        frames.push({ event: head!.slice('event: '.length), data: JSON.parse(data!.slice('data: '.length)) });
        return true;
      },
      on: () => res,
      end: () => undefined,
    };
    return { res: res as unknown as import('node:http').ServerResponse, frames };
  }

  it('records only while watched, sends each tick one delta with the spans, and gives a later viewer the history in valid JSON', async () => {
    const { LiveFeed } = await import('../../../scheduler/dashboard/stream.ts');
    const r = new DashboardRecorder(() => 1_000);
    const feed = new LiveFeed(() => ({ groups: {}, workers: {} }), r, () => 1_000, 1_000_000);
    r.finished('w', ['a-1'], [1], undefined);
    const first = viewer();
    expect(feed.attach(first.res)).toBe(true);
    r.finished('w', ['a-2', 'b-1'], [1, 2], [0, 1]);
    feed.tick();
    const delta = first.frames[1]!;
    expect(delta.event).toBe('delta');
    // The span from before anyone watched was not recorded.
    expect(delta.data.spans).toHaveLength(1);
    expect(delta.data.spans[0].groups).toEqual(['a', 'b']);
    expect(typeof delta.data.costMs).toBe('number');
    feed.tick();
    expect(first.frames[2]!.data.spans).toBeUndefined();
    const second = viewer();
    feed.attach(second.res);
    expect(second.frames[0]!.event).toBe('full');
    expect(second.frames[0]!.data.spans).toEqual(delta.data.spans);
    feed.close();
  });
});
