import { describe, expect, it } from 'vitest';
import { frameName, renderTop, selfTimes, topFrames, type CpuProfile } from '../../../bench/lib/cpuprofile.ts';

/** root → (idle); root → dispatch → encode; root → (garbage collector) */
function profile(): CpuProfile {
  return {
    startTime: 0,
    endTime: 10_000,
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 3, 5] },
      { id: 2, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
      { id: 3, callFrame: { functionName: 'dispatch', url: 'file:///work/main/scheduler/shell.ts', lineNumber: 9 }, children: [4] },
      { id: 4, callFrame: { functionName: 'pack', url: 'file:///work/main/node_modules/msgpackr/pack.js', lineNumber: 99 } },
      { id: 5, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
    ],
    // Each sample lasts until the next one: 2 ms idle, 3 ms dispatch, 4 ms pack, 1 ms GC.
    samples: [2, 3, 4, 5, 2],
    timeDeltas: [0, 2_000, 3_000, 4_000, 1_000],
  };
}

describe('Function: selfTimes', () => {
  it('attributes each sampling interval to the sampled node', () => {
    const t = selfTimes(profile());
    expect(t.get(2)).toBe(2);
    expect(t.get(3)).toBe(3);
    expect(t.get(4)).toBe(4);
    expect(t.get(5)).toBe(1);
  });

  it('falls back to hit counts when the profile has no samples', () => {
    const p = profile();
    delete p.samples;
    delete p.timeDeltas;
    p.nodes[2]!.hitCount = 3;
    p.nodes[3]!.hitCount = 1;
    const t = selfTimes(p);
    expect(t.get(3)).toBe(7.5);
    expect(t.get(4)).toBe(2.5);
  });
});

describe('Function: topFrames', () => {
  it('ranks functions by self time and leaves idle out of the shares', () => {
    // Act
    const top = topFrames(profile(), { root: '/work/main' });

    // Assess
    expect(top.busyMs).toBe(8);
    expect(top.idleMs).toBe(2);
    expect(top.frames.map((f) => f.frame)).toEqual([
      'pack (node_modules/msgpackr/pack.js:100)',
      'dispatch (scheduler/shell.ts:10)',
      '(garbage collector)',
    ]);
    expect(top.frames[0]!.share).toBe(0.5);
  });

  it('groups by file when asked', () => {
    const top = topFrames(profile(), { root: '/work/main', by: 'file' });
    expect(top.frames.map((f) => [f.frame, f.selfMs])).toEqual([
      ['node_modules/msgpackr/pack.js', 4],
      ['scheduler/shell.ts', 3],
      ['(garbage collector)', 1],
    ]);
  });

  it('renders one line per frame under a title', () => {
    const text = renderTop('scheduler', topFrames(profile(), { root: '/work/main', limit: 2 }));
    expect(text.split('\n')).toEqual([
      'scheduler: busy 8 ms, idle 2 ms',
      '   50.0%       4 ms  pack (node_modules/msgpackr/pack.js:100)',
      '   37.5%       3 ms  dispatch (scheduler/shell.ts:10)',
    ]);
  });
});

describe('Function: frameName', () => {
  it('names anonymous functions and native frames', () => {
    expect(frameName({ functionName: '', url: 'file:///x/a.ts', lineNumber: 0 })).toBe('(anonymous) (/x/a.ts:1)');
    expect(frameName({ functionName: 'now', url: '', lineNumber: -1 })).toBe('now');
  });
});
