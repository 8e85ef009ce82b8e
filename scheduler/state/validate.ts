import type { SchedulerState, TaskRecord, WorkerRecord } from './machine.ts';
import { own } from '../../shared/core/own.ts';
import { shufflesOf } from './shuffle.ts';

/**
 * Check every invariant of the scheduler state; returns the violations (empty
 * when consistent). Tests run it after each step.
 */
export function validateSchedulerState(s: SchedulerState): string[] {
  const problems: string[] = [];
  const bad = (t: TaskRecord, msg: string) => problems.push(`${t.key} (${t.state}): ${msg}`);
  for (const [key, t] of s.tasks) {
    if (t.key !== key) bad(t, 'stored under another key');
    if (t.state === 'forgotten') bad(t, 'forgotten task still stored');
    for (const d of t.deps) {
      if (!d.dependents || !d.dependents.has(t)) bad(t, `dependency ${d.key} does not list it as dependent`);
      if (!s.tasks.has(d.key)) bad(t, `dependency ${d.key} is not stored`);
    }
    if (t.dependents) for (const d of t.dependents) if (!d.deps.includes(t)) bad(t, `dependent ${d.key} does not list it`);
    if ((t.state === 'processing') !== (t.processingOn !== null)) bad(t, 'processingOn does not match state');
    if (t.processingOn && !t.processingOn.processing.has(t)) bad(t, 'not in its worker processing set');
    if (t.processingOn && s.workers.get(t.processingOn.id) !== t.processingOn) bad(t, `processing on removed worker ${t.processingOn.id}`);
    if (t.stealTo && t.state !== 'processing') bad(t, `a steal to ${t.stealTo.id} pending outside processing`);
    if (t.queuedOnWorker && t.state !== 'processing') bad(t, 'reported waiting on a worker outside processing');
    if (t.stealTo && t.stealTo === t.processingOn) bad(t, 'asked to move to the worker it is on');
    if (t.state === 'memory') {
      if (!t.whoHas || t.whoHas.length === 0) bad(t, 'in memory but nobody holds it');
      else for (const w of t.whoHas) if (!w.has.has(t) || !s.workers.has(w.id)) bad(t, `holder ${w.id} inconsistent`);
      if (!s.isNeeded(t)) bad(t, 'in memory but not needed');
    } else if (t.whoHas) bad(t, 'has holders outside memory');
    if (t.state === 'waiting') {
      const n = t.deps.filter((d) => d.state !== 'memory').length;
      if (n !== t.waitingOn) bad(t, `waitingOn ${t.waitingOn} but ${n} dependencies are not in memory`);
      if (n === 0) bad(t, 'waiting on nothing');
    }
    if (t.state === 'queued' || t.state === 'processing' || t.state === 'no-worker') {
      for (const d of t.deps) if (d.state !== 'memory') bad(t, `ready but dependency ${d.key} is ${d.state}`);
    }
    if (t.state === 'queued') {
      const queuedRight = t.resources ? s.constrained.has(t) : t.deps.length > 0 ? s.readyDeps.has(t) : t.inHeap;
      if (!queuedRight) bad(t, 'queued but not in the queue');
    } else if (s.constrained.has(t) || s.readyDeps.has(t)) bad(t, 'in a ready queue but not queued');
    if ((t.state === 'no-worker') !== s.noWorker.has(t)) bad(t, 'no-worker set does not match state');
    if (t.state === 'erred' && !t.error) bad(t, 'erred without an error');
    if (t.state === 'released' && s.isNeeded(t)) bad(t, 'released but needed');
    if (t.wantedBy) for (const c of t.wantedBy) if (!c.wants.has(t) || !s.clients.has(c.id)) bad(t, `wanter ${c.id} inconsistent`);
  }
  for (const c of s.clients.values()) {
    for (const t of c.wants) {
      if (!t.wantedBy || !t.wantedBy.includes(c)) problems.push(`client ${c.id} wants ${t.key} which does not list it`);
      if (s.tasks.get(t.key) !== t) problems.push(`client ${c.id} wants unknown task ${t.key}`);
    }
  }
  const stealsInto = new Map<WorkerRecord, number>();
  for (const t of s.tasks.values()) if (t.stealTo) stealsInto.set(t.stealTo, (stealsInto.get(t.stealTo) ?? 0) + t.est);
  for (const w of s.workers.values()) {
    for (const t of w.processing) if (t.state !== 'processing' || t.processingOn !== w) problems.push(`worker ${w.id} lists ${t.key} (${t.state}) as processing`);
    for (const t of w.has) if (t.state !== 'memory' || !t.whoHas?.includes(w)) problems.push(`worker ${w.id} lists ${t.key} (${t.state}) as held`);
    const free = w.status === 'running' && !w.retiring && s.hasRoom(w);
    let occupancy = 0;
    for (const t of w.processing) occupancy += t.est;
    if (Math.abs(occupancy - w.occupancy) > 1e-6 * Math.max(1, occupancy)) problems.push(`worker ${w.id} occupancy ${w.occupancy} but its tasks add up to ${occupancy}`);
    // Pending steals (stealing.ts): what is asked of it, and what is asked for it.
    let out = 0;
    let outCount = 0;
    for (const t of w.processing) {
      if (!t.stealTo) continue;
      out += t.est;
      outCount++;
    }
    const into = stealsInto.get(w) ?? 0;
    if (outCount !== w.stealOutCount || Math.abs(out - w.stealOut) > 1e-6 * Math.max(1, out)) problems.push(`worker ${w.id} stealOut ${w.stealOut}/${w.stealOutCount} but its asked-for tasks add up to ${out}/${outCount}`);
    if (Math.abs(into - w.stealIn) > 1e-6 * Math.max(1, into)) problems.push(`worker ${w.id} stealIn ${w.stealIn} but the tasks asked for it add up to ${into}`);
    if (free !== s.idle.has(w)) problems.push(`worker ${w.id} idle flag wrong`);
    for (const [r, n] of Object.entries(w.used)) {
      if (n < 0 || n > (own(w.resources, r) ?? 0)) problems.push(`worker ${w.id} uses ${n} of ${r}`);
    }
  }
  for (const w of s.idle) if (!s.workers.has(w.id)) problems.push(`removed worker ${w.id} still idle`);
  for (const t of s.noWorker) if (s.tasks.get(t.key) !== t) problems.push(`no-worker ${t.key} (${t.state}) is not stored`);
  // Every state change is counted once and logged once: none bypassed the table.
  if (s.log.recorded !== s.transitionCount) problems.push(`${s.transitionCount} transitions but ${s.log.recorded} logged`);
  problems.push(...shufflesOf(s).validate());
  return problems;
}
