import { describe, expect, it } from 'vitest';
import { measureLoopback } from '../../../bench/loopback.ts';
import { measurePingPong } from '../../../bench/pingpong.ts';

// These spawn one child process each and move little data; they check that
// every byte and every round is accounted for, never how fast it went.
describe('Function: measureLoopback', () => {
  it('times every repetition after the warm-up when the sender delivers all bytes', async () => {
    // Act
    const r = await measureLoopback({ bytes: 3 * 1024 * 1024 + 17, reps: 3 });

    // Assess
    expect(r.samples).toHaveLength(3);
    expect(r.mbPerS).toBeGreaterThan(0);
    expect(Number.isFinite(r.mbPerS)).toBe(true);
    expect(r.receiverKernelMsPerCopy).toBeGreaterThanOrEqual(0);
    expect(r.receiverCpuMsPerCopy).toBeGreaterThanOrEqual(r.receiverKernelMsPerCopy);
  });
});

describe('Function: measurePingPong', () => {
  it('records one round-trip time per round and the CPU both processes used', async () => {
    // Act
    const r = await measurePingPong({ rounds: 50 });

    // Assess
    expect(r.samples).toBe(50);
    expect(r.p50Us).toBeGreaterThan(0);
    expect(r.p99Us).toBeGreaterThanOrEqual(r.p50Us);
    expect(Object.keys(r.perRoundTrip).sort()).toEqual(['echo', 'sender']);
    expect(r.perRoundTrip.sender!.readsPerTask).toBeGreaterThan(0);
  });
});
