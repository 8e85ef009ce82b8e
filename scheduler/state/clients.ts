import type { SchedulerState } from './machine.ts';
import { ClientRecord, createTasks, type TaskRecord } from './records.ts';
import type { TaskSpec } from './types.ts';

/**
 * What clients ask of the scheduler's machine: new graphs and the keys they
 * want, and releasing them again. Each function queues transitions through
 * the machine's table (`s.rec`, `s.drain`); none changes a task's state itself.
 */

export function clientRecord(s: SchedulerState, id: string): ClientRecord {
  let c = s.clients.get(id);
  if (!c) s.clients.set(id, (c = new ClientRecord(id)));
  return c;
}

export function updateGraph(s: SchedulerState, clientId: string, specs: readonly TaskSpec[], wants: readonly string[]): void {
  const c = clientRecord(s, clientId);
  let prio = Math.max(c.nextPrio, s.servedPrio);
  const created = createTasks(s.tasks, specs, prio, s.seq);
  prio += created.length;
  s.seq += created.length;
  c.nextPrio = prio;
  const toRun: TaskRecord[] = [];
  for (const key of wants) {
    const t = s.tasks.get(key);
    if (!t) {
      s.report(c, { op: 'task-erred', key, error: { name: 'MissingDependencyError', message: `the scheduler does not know task ${key}` } });
      continue;
    }
    if (!c.wants.has(t)) {
      c.wants.add(t);
      // `[c]`, not a push onto `[]`, which reserves 17 slots: almost every task is wanted by one client.
      if (t.wantedBy) t.wantedBy.push(c);
      else t.wantedBy = [c];
    }
    if (t.state === 'memory') s.report(c, { op: 'key-in-memory', key, nbytes: t.nbytes });
    else if (t.state === 'erred' && t.error) s.report(c, { op: 'task-erred', key, error: t.error });
    else if (t.state === 'released') toRun.push(t);
  }
  // Tasks that cannot run (bad resources, unknown dependency) err first, then the rest start.
  for (const t of created) if (t.error) s.rec(t, 'erred', { error: t.error });
  s.drain(s.transitionCount + s.options.maxTransitions);
  for (const t of toRun) if (t.state === 'released') s.rec(t, 'waiting');
  s.drain(s.transitionCount + s.options.maxTransitions);
  // Tasks sent along that nobody needs are dropped again.
  for (const t of created) if (t.state === 'released' && s.canForget(t)) s.rec(t, 'forgotten');
}

export function releaseWants(s: SchedulerState, c: ClientRecord, keys: readonly string[], cancelled: boolean): void {
  for (const key of keys) {
    const t = s.tasks.get(key);
    if (!t || !c.wants.has(t)) continue;
    c.wants.delete(t);
    if (t.wantedBy) {
      if (t.wantedBy.length === 1) t.wantedBy = null;
      else {
        const rest = t.wantedBy.filter((x) => x !== c);
        t.wantedBy = rest.length > 0 ? rest : null;
      }
    }
    if (cancelled) s.report(c, { op: 'cancelled', key });
    if (s.isNeeded(t)) continue;
    if (t.state === 'released' || t.state === 'erred') {
      if (s.canForget(t)) s.rec(t, 'forgotten');
    } else {
      s.rec(t, 'released');
    }
  }
}
