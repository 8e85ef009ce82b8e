import { describe, expect, it } from 'vitest';
import { TransitionLog, tellStory } from '../../../shared/engine/transition-log.ts';

describe('Class: TransitionLog', () => {
  it('tells the story of one key, oldest first, among other keys', () => {
    const log = new TransitionLog(10);
    log.record('a', 'released', 'waiting', 's1', 100);
    log.record('b', 'released', 'waiting', 's1', 100);
    log.record('a', 'waiting', 'queued', 's2', 200);
    expect(log.story('a')).toEqual([
      { key: 'a', from: 'released', to: 'waiting', stimulusId: 's1', time: 100 },
      { key: 'a', from: 'waiting', to: 'queued', stimulusId: 's2', time: 200 },
    ]);
    expect(log.story('c')).toEqual([]);
    expect(log.since(1).map((e) => e.key)).toEqual(['b', 'a']);
  });

  it('keeps only the last `capacity` entries once full, still oldest first', () => {
    const log = new TransitionLog(3);
    for (let i = 0; i < 7; i++) log.record('k', `s${i}`, `s${i + 1}`, `stim-${i}`, i);
    expect(log.recorded).toBe(7);
    expect(log.size).toBe(3);
    expect(log.story('k').map((e) => e.stimulusId)).toEqual(['stim-4', 'stim-5', 'stim-6']);
    // Entries already overwritten are not returned.
    expect(log.since(2).map((e) => e.stimulusId)).toEqual(['stim-4', 'stim-5', 'stim-6']);
  });

  it('keeps each held entry\'s stimulus once the ring wraps, when consecutive entries share one', () => {
    const log = new TransitionLog(3);
    log.record('a', 'released', 'waiting', 's1', 1);
    log.record('b', 'released', 'waiting', 's1', 1);
    log.record('c', 'released', 'waiting', 's2', 2);
    log.record('d', 'released', 'waiting', 's2', 2);
    log.record('e', 'waiting', 'memory', 's3', 3);
    expect(log.since(0)).toEqual([
      { key: 'c', from: 'released', to: 'waiting', stimulusId: 's2', time: 2 },
      { key: 'd', from: 'released', to: 'waiting', stimulusId: 's2', time: 2 },
      { key: 'e', from: 'waiting', to: 'memory', stimulusId: 's3', time: 3 },
    ]);
    // The same stimulus again after another one is recorded again.
    log.record('f', 'memory', 'released', 's2', 4);
    expect(log.story('f')).toEqual([{ key: 'f', from: 'memory', to: 'released', stimulusId: 's2', time: 4 }]);
    expect(log.since(0).map((e) => e.stimulusId)).toEqual(['s2', 's3', 's2']);
  });

  it('grows past its first columns and wraps a large capacity intact', () => {
    const log = new TransitionLog(5000);
    for (let i = 0; i < 12_000; i++) log.record(`k${i % 7}`, i % 2 ? 'processing' : 'queued', i % 2 ? 'memory' : 'processing', `stim-${i >> 2}`, i);
    expect(log.size).toBe(5000);
    const held = log.since(0);
    expect(held).toHaveLength(5000);
    held.forEach((e, j) => {
      const i = 7000 + j;
      expect(e).toEqual({ key: `k${i % 7}`, from: i % 2 ? 'processing' : 'queued', to: i % 2 ? 'memory' : 'processing', stimulusId: `stim-${i >> 2}`, time: i });
    });
  });

  it('keeps nothing with capacity 0 and refuses a negative or fractional size', () => {
    const log = new TransitionLog(0);
    log.record('k', 'a', 'b', 's', 1);
    expect(log.story('k')).toEqual([]);
    expect(log.since(0)).toEqual([]);
    expect(log.recorded).toBe(1);
    expect(() => new TransitionLog(-1)).toThrow(RangeError);
    expect(() => new TransitionLog(1.5)).toThrow('transition log size must be a non-negative integer, got 1.5');
  });

  it('shortens a long story in an error message to its last entries', () => {
    const story = Array.from({ length: 12 }, (_, i) => ({ key: 'k', from: `s${i}`, to: `s${i + 1}`, stimulusId: `x-${i}`, time: i }));
    expect(tellStory([])).toBe('');
    expect(tellStory(story, 2)).toBe('; story: …, s10→s11 (x-10), s11→s12 (x-11)');
  });
  it('records state names that are also Object.prototype\'s own names', () => {
    const log = new TransitionLog(8);
    log.record('k', '__proto__', 'constructor', 's1', 1);
    log.record('k', 'constructor', 'toString', 's2', 2);
    expect(log.story('k').map((e) => [e.from, e.to])).toEqual([
      ['__proto__', 'constructor'],
      ['constructor', 'toString'],
    ]);
  });
});
