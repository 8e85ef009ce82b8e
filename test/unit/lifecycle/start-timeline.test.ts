import { describe, expect, it } from 'vitest';
import { startTimeline } from '../../../shared/lifecycle/start-timeline.ts';

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();

describe('Function: startTimeline', () => {
  it('splits create→RUNNING into the stages the stamps bound, in order, summing to the total', () => {
    const t = startTimeline({
      createdAt: at(0),
      provisioningAt: at(40),
      runningAt: at(5_000),
      startTimes: { podsCreatedAt: at(300), schedulerReadyAt: at(2_300), workersRegisteredAt: at(4_100) },
    });
    expect(t).toEqual({
      totalMs: 5_000,
      stages: [
        { stage: 'queue', from: at(0), to: at(40), ms: 40 },
        { stage: 'provision', from: at(40), to: at(300), ms: 260 },
        { stage: 'process start', from: at(300), to: at(2_300), ms: 2_000 },
        { stage: 'connect', from: at(2_300), to: at(4_100), ms: 1_800 },
        { stage: 'observe', from: at(4_100), to: at(5_000), ms: 900 },
      ],
    });
    expect(t!.stages.reduce((n, s) => n + s.ms, 0)).toBe(t!.totalMs);
  });

  it('has a node-and-image stage when the backend reports container start (EKS)', () => {
    const t = startTimeline({
      createdAt: at(0),
      provisioningAt: at(100),
      runningAt: at(200_000),
      startTimes: { podsCreatedAt: at(3_000), containersStartedAt: at(150_000), schedulerReadyAt: at(152_000), workersRegisteredAt: at(190_000) },
    });
    expect(t!.stages.map((s) => [s.stage, s.ms])).toEqual([
      ['queue', 100],
      ['provision', 2_900],
      ['node and image', 147_000],
      ['process start', 2_000],
      ['connect', 38_000],
      ['observe', 10_000],
    ]);
  });

  it('folds a missing milestone into the next stage and clamps out-of-order stamps at 0', () => {
    const t = startTimeline({ createdAt: at(0), provisioningAt: at(50), runningAt: at(1_000), startTimes: { schedulerReadyAt: at(40) } });
    expect(t!.stages.map((s) => [s.stage, s.ms])).toEqual([
      ['queue', 50],
      ['process start', 0],
      ['observe', 960],
    ]);
  });

  it('is undefined until the cluster reached RUNNING', () => {
    expect(startTimeline({ createdAt: at(0), provisioningAt: at(50) })).toBeUndefined();
    expect(startTimeline({ createdAt: at(0) })).toBeUndefined();
  });
});
