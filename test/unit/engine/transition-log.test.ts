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
});
