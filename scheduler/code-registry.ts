import { ProtocolError } from '../comm/errors.ts';
import type { FunctionDef } from '../comm/payload.ts';
import type { Channel, SchedulerToWorker, WireTask, WorkerToScheduler } from '../comm/protocol.ts';
import type { TaskSpec } from './state/types.ts';

/** What the registry needs of a worker connection: its channel and what it was already sent. */
export interface CodePeer {
  channel: Channel<WorkerToScheduler, SchedulerToWorker>;
  knownFns: Set<string>;
  knownModules: Set<string>;
}

/**
 * The code the scheduler holds for its workers: function definitions, module
 * bundles and plugins, as clients sent them. Each worker is sent a definition
 * (and its module) once, just before its first task that needs it, so a
 * worker that joins late still gets everything.
 */
export class CodeRegistry {
  private readonly fns = new Map<string, FunctionDef>();
  private readonly modules = new Map<string, Buffer>();
  private readonly plugins: Array<{ hash: string; name: string }> = [];

  /**
   * Record a graph's function definitions (first definition of an id wins) and
   * turn its wire tasks into the state machine's specs, refusing a task whose
   * function, or a function it `uses`, was never defined.
   */
  intake(fns: ReadonlyArray<readonly [string, FunctionDef]>, raw: readonly WireTask[]): TaskSpec[] {
    for (const [id, def] of fns) if (!this.fns.has(id)) this.fns.set(id, def);
    const tasks: TaskSpec[] = new Array(raw.length);
    compactArgs(raw);
    for (let i = 0; i < raw.length; i++) {
      const t = raw[i] as WireTask;
      if (!this.fns.has(t.fn)) throw new ProtocolError('update-graph', `tasks[${i}].fn`, `unknown function id "${t.fn}" (its definition was never sent in fns)`);
      const unknownUse = t.uses?.findIndex((u) => !this.fns.has(u)) ?? -1;
      if (unknownUse >= 0) throw new ProtocolError('update-graph', `tasks[${i}].uses[${unknownUse}]`, `unknown function id "${t.uses?.[unknownUse]}" (its definition was never sent in fns)`);
      // The wire record itself is the opaque run spec (no extra object per task).
      const spec: TaskSpec = { key: t.key, run: t, deps: t.deps };
      if (t.resources) spec.resources = t.resources;
      if (t.retries) spec.retries = t.retries;
      if (t.shuffle) spec.shuffle = t.shuffle;
      tasks[i] = spec;
    }
    return tasks;
  }

  addModule(hash: string, code: Buffer): void {
    this.modules.set(hash, code);
  }

  /** Keep a plugin for workers that join later and send it to those connected now. */
  addPlugin(p: { hash: string; name: string }, code: Buffer, peers: Iterable<CodePeer>): void {
    this.modules.set(p.hash, code);
    this.plugins.push(p);
    for (const w of peers) this.sendPlugin(w, p);
  }

  /** A joining worker gets every plugin registered so far. */
  welcome(w: CodePeer): void {
    for (const p of this.plugins) this.sendPlugin(w, p);
  }

  /** Send a function's definition (and its module's code) to a worker once. */
  ensureSent(w: CodePeer, f: string): void {
    if (w.knownFns.has(f)) return;
    const def = this.fns.get(f);
    if (!def) return;
    if (def.kind === 'module' && !w.knownModules.has(def.hash)) {
      const code = this.modules.get(def.hash);
      if (code) w.channel.send({ op: 'module', hash: def.hash }, [code]);
      w.knownModules.add(def.hash);
    }
    w.channel.send({ op: 'fns', defs: [[f, def]] });
    w.knownFns.add(f);
  }

  private sendPlugin(w: CodePeer, p: { hash: string; name: string }): void {
    const code = this.modules.get(p.hash);
    w.channel.send({ op: 'plugin', hash: p.hash, name: p.name }, code ? [code] : undefined);
    w.knownModules.add(p.hash);
  }
}

/**
 * Give a graph's task arguments memory of their own. Decoded, each `args` is
 * a view into the received frame, so one task kept alive (a result the client
 * still wants) kept its whole frame: keys, dependency lists and every other
 * task's arguments, about 125 bytes per task of a 1 M-task graph held until
 * the client released the last result. The copies share one buffer per
 * message, sized to the arguments alone.
 */
function compactArgs(raw: readonly WireTask[]): void {
  let total = 0;
  for (let i = 0; i < raw.length; i++) total += (raw[i] as WireTask).args.byteLength;
  if (total === 0) return;
  const arena = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i] as WireTask;
    const n = t.args.byteLength;
    arena.set(t.args, at);
    t.args = arena.subarray(at, at + n);
    at += n;
  }
}
