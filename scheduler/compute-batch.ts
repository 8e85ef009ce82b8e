import type { WireShuffleAssignment, WireTask } from '../comm/protocol.ts';
import type { CodePeer, CodeRegistry } from './code-registry.ts';
import type { DepLocation, SchedulerInstruction } from './state/types.ts';

/** Compute instructions for one worker from one step, as parallel arrays (one message). */
export interface ComputeBatch {
  k: string[];
  f: string[];
  a: Uint8Array[];
  /** Per task 0 (no dependencies) or its dependencies as `{key, nbytes, who}` records. */
  d: Array<DepLocation[] | 0>;
  p: number[];
  s: string[];
  /** Per task 0 or its shuffle assignment (dropped from the message when all are 0). */
  sh: Array<WireShuffleAssignment | 0>;
}

export function newComputeBatch(): ComputeBatch {
  return { k: [], f: [], a: [], d: [], p: [], s: [], sh: [] };
}

/** Add one compute to `w`'s batch; the function definitions it needs go to the worker first (once). */
export function appendCompute(code: CodeRegistry, w: CodePeer, b: ComputeBatch, ins: Extract<SchedulerInstruction, { type: 'compute' }>): void {
  // The run spec is the client's wire task, kept as it arrived (update-graph).
  const task = ins.run as WireTask;
  const f = task.fn;
  code.ensureSent(w, f);
  if (task.uses) for (const u of task.uses) code.ensureSent(w, u);
  b.k.push(ins.key);
  b.f.push(f);
  b.a.push(task.args);
  // The state machine's fresh DepLocation objects go out as they are (msgpack records).
  b.d.push(ins.deps.length === 0 ? 0 : ins.deps);
  b.p.push(ins.priority);
  b.s.push(ins.stimulusId);
  b.sh.push(ins.shuffle ?? 0);
}
