import type { WorkerState } from './machine.ts';

/** Check the worker state's invariants; returns the violations (empty when consistent). */
export function validateWorkerState(s: WorkerState): string[] {
  const problems: string[] = [];
  if (s.executing.size > s.options.maxExecuting) problems.push(`executing ${s.executing.size} > maxExecuting ${s.options.maxExecuting}`);
  for (const [key, t] of s.tasks) {
    const bad = (m: string) => problems.push(`${key} (${t.state}): ${m}`);
    if (t.key !== key) bad('stored under another key');
    if (t.state === 'forgotten') bad('forgotten but stored');
    if ((t.state === 'executing' || t.state === 'cancelled') !== s.executing.has(t)) bad('executing set mismatch');
    if ((t.state === 'fetch') !== s.fetching.has(t)) bad('fetching set mismatch');
    if (t.state === 'flight') {
      let found = false;
      for (const set of s.inFlight.values()) if (set.has(t)) found = true;
      if (!found) bad('in flight but no gather asked for it');
    }
    if (t.state === 'waiting') {
      const n = t.deps.filter((d) => d.state !== 'memory').length;
      if (n !== t.waitingOn || n === 0) bad(`waitingOn ${t.waitingOn}, missing ${n}`);
    }
    if (t.state === 'ready' || t.state === 'executing') for (const d of t.deps) if (d.state !== 'memory') bad(`dependency ${d.key} is ${d.state}`);
    for (const d of t.deps) {
      if (s.tasks.get(d.key) !== d) bad(`dependency ${d.key} not stored`);
      if (!d.dependents?.has(t)) bad(`dependency ${d.key} does not list it`);
    }
    if (t.dependents) for (const d of t.dependents) if (!d.deps.includes(t)) bad(`dependent ${d.key} does not list it`);
    if (t.state === 'memory' && !t.owned && (!t.dependents || t.dependents.size === 0)) bad('replica that nobody needs');
    if ((t.state === 'waiting' || t.state === 'ready') && !t.owned) bad('scheduled but not owned');
    if (t.state === 'released') bad('still released after the step that created it');
    if (t.state === 'ready' && !t.inReady) bad('ready but not in the ready heap');
    if ((t.state === 'memory' || t.state === 'executing' || t.state === 'cancelled') && t.waitingOn < 0) bad(`waitingOn ${t.waitingOn}`);
  }
  for (const t of s.executing) if (s.tasks.get(t.key) !== t) problems.push(`executing ${t.key} (${t.state}) is not stored`);
  for (const t of s.fetching) if (s.tasks.get(t.key) !== t) problems.push(`fetching ${t.key} (${t.state}) is not stored`);
  for (const [peer, asked] of s.inFlight) {
    for (const t of asked) if (t.state === 'flight' && s.tasks.get(t.key) !== t) problems.push(`${t.key} in flight from ${peer} is not stored`);
  }
  // Every state change is counted once and logged once: none bypassed the table.
  if (s.log.recorded !== s.transitionCount) problems.push(`${s.transitionCount} transitions but ${s.log.recorded} logged`);
  return problems;
}
