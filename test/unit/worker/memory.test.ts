import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../shared/core/logger.ts';
import { cgroupMemoryLimit, decideMemory, effectiveMemoryLimit, MemoryManager, SHARED_GC_MAX_BYTES, SHARED_GC_MIN_BYTES, SharedMemoryCollector, sharedGcThreshold, threadGcThreshold, type ManagedData } from '../../../worker/memory.ts';
import { waitFor } from '../../support/wait.ts';
import { DEFAULT_THRESHOLDS } from '../../../worker/store.ts';

const MiB = 1024 * 1024;
const LIMIT = 1000 * MiB;

/** A store whose spills are recorded and which really drops bytes. */
class FakeStore implements ManagedData {
  spills: number[] = [];
  constructor(public managedBytes: number) {}
  spillTo(bytes: number): number {
    this.spills.push(bytes);
    const dropped = Math.max(0, this.managedBytes - bytes);
    this.managedBytes -= dropped;
    return dropped;
  }
}

function harness(rssSamples: number[], managed = 0, opts: { gc?: boolean; threads?: boolean } = {}) {
  const samples = [...rssSamples];
  let now = 0;
  let paused = false;
  const events: string[] = [];
  const store = new FakeStore(managed);
  const manager = new MemoryManager({
    limitBytes: LIMIT,
    thresholds: DEFAULT_THRESHOLDS,
    store,
    isPaused: () => paused,
    onPauseChange: (p) => {
      paused = p;
      events.push(p ? 'pause' : 'unpause');
    },
    onTerminate: (reading) => events.push(`terminate@${Math.round(reading.rssBytes / MiB)}`),
    logger: createLogger({ write: () => {} }),
    sampleRss: () => samples.shift() ?? (() => { throw new Error('no more RSS samples'); })(),
    now: () => now,
    ...(opts.gc ? { collectGarbage: () => events.push('gc') } : {}),
    ...(opts.threads ? { collectThreads: () => events.push('threads-gc') } : {}),
  });
  return { manager, store, events, tick: (ms: number) => (now += ms) };
}

describe('Class: SharedMemoryCollector', () => {
  it('collects once per threshold of shared memory taken in, after the current turn, taking gc on first need', async () => {
    // Prepare
    let taken = 0;
    let collections = 0;
    const c = new SharedMemoryCollector(10 * MiB, () => {
      taken++;
      return () => collections++;
    });
    // Act: 9 MiB does not reach the threshold; 12 more in the same turn make one collection, not two
    c.note(9 * MiB);
    await new Promise((r) => setImmediate(r));
    const before = collections;
    c.note(6 * MiB);
    c.note(6 * MiB);
    const sameTurn = collections;
    await waitFor(() => collections === 1, { what: 'a collection' });
    c.note(4 * MiB);
    await new Promise((r) => setImmediate(r));
    // Assess
    expect([before, sameTurn, collections, taken, c.collections]).toEqual([0, 0, 1, 1, 1]);
  });

  it('does nothing when the runtime refuses gc', async () => {
    const c = new SharedMemoryCollector(MiB, () => undefined);
    c.note(2 * MiB);
    await new Promise((r) => setImmediate(r));
    expect(c.collections).toBe(0);
  });

  it('sets the threshold at 5 % of the limit, within its bounds', () => {
    expect(sharedGcThreshold(1000 * MiB)).toBe(50 * MiB);
    expect(sharedGcThreshold(100 * MiB)).toBe(SHARED_GC_MIN_BYTES);
    expect(sharedGcThreshold(100_000 * MiB)).toBe(SHARED_GC_MAX_BYTES);
    expect(sharedGcThreshold(undefined)).toBe(SHARED_GC_MAX_BYTES);
    // A task thread's share: split between the threads, never below the minimum.
    expect(threadGcThreshold(undefined, 1)).toBe(SHARED_GC_MAX_BYTES);
    expect(threadGcThreshold(undefined, 4)).toBe(SHARED_GC_MAX_BYTES / 4);
    expect(threadGcThreshold(1000 * MiB, 2)).toBe(25 * MiB);
    expect(threadGcThreshold(256 * MiB, 2)).toBe(SHARED_GC_MIN_BYTES);
    expect(threadGcThreshold(undefined, 0)).toBe(SHARED_GC_MAX_BYTES);
  });
});

describe('Function: decideMemory', () => {
  it('spills above 70 %, pauses above 80 % (with managed data), terminates above 95 % of the limit', () => {
    const d = (rssMiB: number, managedMiB: number) => decideMemory({ rssBytes: rssMiB * MiB, managedBytes: managedMiB * MiB }, LIMIT, DEFAULT_THRESHOLDS);
    expect(d(600, 100)).toEqual({ spillToBytes: undefined, paused: false, terminate: false });
    expect(d(750, 100)).toEqual({ spillToBytes: 50 * MiB, paused: false, terminate: false });
    expect(d(850, 100)).toEqual({ spillToBytes: 0, paused: true, terminate: false });
    // memory that is not results cannot be spilled, and pausing would not free it
    expect(d(850, 0)).toEqual({ spillToBytes: undefined, paused: false, terminate: false });
    expect(d(950, 0).terminate).toBe(false);
    expect(d(951, 0).terminate).toBe(true);
  });
});

describe('Class: MemoryManager', () => {
  it('does nothing without a limit', () => {
    const m = new MemoryManager({ limitBytes: undefined, thresholds: DEFAULT_THRESHOLDS, store: new FakeStore(0), isPaused: () => false, onPauseChange: () => {}, onTerminate: () => {}, logger: createLogger({ write: () => {} }), sampleRss: () => 10 * LIMIT });
    expect(m.check()).toBeUndefined();
  });

  it('pauses through the state machine flag once, and unpauses when RSS falls back', () => {
    const h = harness([850 * MiB, 860 * MiB, 500 * MiB], 400 * MiB);
    h.manager.check();
    h.manager.check();
    h.manager.check();
    expect(h.events).toEqual(['pause', 'unpause']);
  });

  it('terminates once when a task keeps allocating past 95 %, after a last spill and collection that do not help', () => {
    // RSS sampled every 50 ms of a task growing 600 MiB/s: 30 MiB a sample
    const rss = [900, 930, 960, 960, 990, 1020].map((x) => x * MiB);
    const h = harness(rss, 50 * MiB, { gc: true });
    for (let i = 0; i < 5; i++) {
      h.manager.check();
      h.tick(50);
    }
    // 900: spill (managed 50 → 0), gc, pause; 930: nothing managed, unpause; 960 > 950: last gc, re-sample 960 → terminate;
    // then every later check does nothing (the remaining samples are never taken)
    expect(h.events).toEqual(['gc', 'pause', 'unpause', 'gc', 'terminate@960']);
    expect(h.manager.check()).toBeUndefined();
    expect(h.store.managedBytes).toBe(0);
  });

  it('does not terminate when spilling and a collection bring RSS back under 95 %', () => {
    const h = harness([980 * MiB, 700 * MiB], 300 * MiB, { gc: true });
    const d = h.manager.check();
    expect(d?.terminate).toBe(false);
    expect(h.events).toEqual(['gc']);
    expect(h.store.spills).toEqual([0]);
  });

  it('asks the task threads to collect while RSS is past the target, with nothing to spill, once per second, and before terminating', () => {
    // 500: under the 60 % target; 650, 660: past it with no results held (no spill, no pause), 1.1 s apart then 0.5 s;
    // 980: past 95 %: asked again at once, whatever the interval, then the worker ends.
    const h = harness([500, 650, 660, 670, 980, 980].map((x) => x * MiB), 0, { gc: true, threads: true });
    h.manager.check();
    h.manager.check();
    h.tick(1100);
    h.manager.check();
    h.tick(500);
    h.manager.check();
    h.manager.check();
    expect(h.events).toEqual(['threads-gc', 'threads-gc', 'threads-gc', 'gc', 'terminate@980']);
  });

  it('rate-limits collections after spills to one per second', () => {
    const h = harness([750 * MiB, 750 * MiB, 750 * MiB], 1000 * MiB, { gc: true });
    h.manager.check();
    h.tick(500);
    h.manager.check();
    h.tick(600);
    h.manager.check();
    expect(h.events).toEqual(['gc', 'gc']);
  });
});

describe('Function: cgroupMemoryLimit', () => {
  const files = (map: Record<string, string>) => (p: string) => {
    if (p in map) return map[p] as string;
    throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
  };

  it('reads the cgroup v2 limit of this process', () => {
    expect(cgroupMemoryLimit(files({ '/proc/self/cgroup': '0::/kubepods/pod1\n', '/sys/fs/cgroup/kubepods/pod1/memory.max': '536870912\n' }))).toBe(512 * MiB);
  });

  it('reads the cgroup v1 limit, and treats "max" and the v1 huge value as no limit', () => {
    expect(cgroupMemoryLimit(files({ '/proc/self/cgroup': '4:memory:/a\n', '/sys/fs/cgroup/memory/a/memory.limit_in_bytes': '268435456' }))).toBe(256 * MiB);
    expect(cgroupMemoryLimit(files({ '/proc/self/cgroup': '4:memory:/a\n', '/sys/fs/cgroup/memory/a/memory.limit_in_bytes': '9223372036854771712' }))).toBeUndefined();
    expect(cgroupMemoryLimit(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/memory.max': 'max' }))).toBeUndefined();
    expect(cgroupMemoryLimit(files({}))).toBeUndefined();
  });

  it('takes the smaller of the configured and the cgroup limit', () => {
    expect(effectiveMemoryLimit(LIMIT, 512 * MiB)).toBe(512 * MiB);
    expect(effectiveMemoryLimit(256 * MiB, 512 * MiB)).toBe(256 * MiB);
    expect(effectiveMemoryLimit(undefined, 512 * MiB)).toBe(512 * MiB);
    expect(effectiveMemoryLimit(LIMIT, undefined)).toBe(LIMIT);
  });
});
