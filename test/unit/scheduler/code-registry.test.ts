import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../comm/errors.ts';
import type { WireTask } from '../../../comm/protocol.ts';
import { CodeRegistry } from '../../../scheduler/code-registry.ts';

const FN: [string, { kind: 'inline'; name: string; source: string }] = ['fn-1', { kind: 'inline', name: 'inc', source: '(x) => x + 1' }];

/** Tasks as the boundary decoder hands them over: every `args` a view into one received frame. */
function decodedTasks(n: number, frameBytes: number): { frame: Buffer; tasks: WireTask[] } {
  const frame = Buffer.alloc(frameBytes, 0xee);
  const tasks: WireTask[] = [];
  for (let i = 0; i < n; i++) {
    const args = frame.subarray(i * 10, i * 10 + 3);
    args.set([0x91, i & 0x7f, 0xc0]);
    tasks.push({ key: `inc-${i}`, fn: 'fn-1', args, deps: [], resources: null, retries: 0 });
  }
  return { frame, tasks };
}

describe('CodeRegistry.intake', () => {
  it('copies task arguments out of the received frame, so a task kept alive does not keep the frame', () => {
    const { frame, tasks } = decodedTasks(1_000, 1 << 20);
    const specs = new CodeRegistry().intake([FN], tasks);

    expect(specs.map((s) => s.key)).toEqual(tasks.map((t) => t.key));
    const kept = specs.map((s) => (s.run as WireTask).args);
    kept.forEach((a, i) => expect([...a]).toEqual([0x91, i & 0x7f, 0xc0]));
    for (const a of kept) expect(a.buffer).not.toBe(frame.buffer);
    // One buffer for the message's arguments, sized to them alone (3 bytes each), not to the frame.
    expect(new Set(kept.map((a) => a.buffer)).size).toBe(1);
    expect((kept[0] as Uint8Array).buffer.byteLength).toBe(3_000);
    // The frame may be reused or dropped: the tasks' arguments do not change.
    frame.fill(0);
    expect([...(kept[999] as Uint8Array)]).toEqual([0x91, 999 & 0x7f, 0xc0]);
  });

  it('accepts tasks with empty arguments, and refuses an unknown function id naming the task', () => {
    const registry = new CodeRegistry();
    const empty: WireTask = { key: 'k-0', fn: 'fn-1', args: new Uint8Array(0), deps: [], resources: null, retries: 0 };
    expect(registry.intake([FN], [empty])[0]?.key).toBe('k-0');
    const unknown: WireTask = { ...empty, key: 'k-1', fn: 'nope' };
    expect(() => registry.intake([], [empty, unknown])).toThrow(ProtocolError);
    expect(() => registry.intake([], [empty, unknown])).toThrow(/tasks\[1\]\.fn/);
  });
});
