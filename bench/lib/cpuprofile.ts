/**
 * Summarise a V8 `.cpuprofile` (from `node --cpu-prof` or the bench's
 * --profile preload): self time per function and per file, the top frames
 * that go into bench/FINDINGS.md. Pure.
 */

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface FrameTime {
  frame: string;
  selfMs: number;
  share: number;
}

/** `fn (path:line)` with the path shortened to the part after `root`. */
export function frameName(cf: CpuProfileNode['callFrame'], root = ''): string {
  const fn = cf.functionName || '(anonymous)';
  if (!cf.url) return fn;
  let url = cf.url.replace(/^file:\/\//, '');
  if (root && url.startsWith(root)) url = url.slice(root.length).replace(/^\//, '');
  url = url.replace(/^.*node_modules\//, 'node_modules/');
  return `${fn} (${url}:${cf.lineNumber + 1})`;
}

/**
 * Self time per node, in ms. Uses samples + timeDeltas when present (exact
 * per-sample intervals), otherwise hitCount × mean interval.
 */
export function selfTimes(profile: CpuProfile): Map<number, number> {
  const out = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  if (samples && timeDeltas && samples.length === timeDeltas.length && samples.length > 0) {
    // timeDeltas[i] is the time before sample i; attribute the interval after each sample to it.
    for (let i = 0; i < samples.length; i++) {
      const dt = (timeDeltas[i + 1] ?? 0) / 1000;
      out.set(samples[i]!, (out.get(samples[i]!) ?? 0) + dt);
    }
    return out;
  }
  const hits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const per = hits > 0 ? (profile.endTime - profile.startTime) / 1000 / hits : 0;
  for (const n of profile.nodes) out.set(n.id, (n.hitCount ?? 0) * per);
  return out;
}

const IDLE = new Set(['(idle)', '(program)', '(garbage collector)']);

/** Top functions by self time; `(idle)` is excluded from shares, GC and (program) are kept. */
export function topFrames(profile: CpuProfile, options: { limit?: number; root?: string; by?: 'function' | 'file' } = {}): { busyMs: number; idleMs: number; frames: FrameTime[] } {
  const times = selfTimes(profile);
  const agg = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const n of profile.nodes) {
    const t = times.get(n.id) ?? 0;
    if (t === 0) continue;
    if (n.callFrame.functionName === '(idle)') {
      idle += t;
      continue;
    }
    busy += t;
    let key: string;
    if (options.by === 'file') {
      key = IDLE.has(n.callFrame.functionName) || !n.callFrame.url ? n.callFrame.functionName || '(native)' : frameName({ ...n.callFrame, functionName: '' }, options.root).replace(/^\(anonymous\) \(/, '').replace(/:\d+\)$/, '');
    } else {
      key = frameName(n.callFrame, options.root);
    }
    agg.set(key, (agg.get(key) ?? 0) + t);
  }
  const frames = [...agg.entries()]
    .map(([frame, selfMs]) => ({ frame, selfMs, share: busy > 0 ? selfMs / busy : 0 }))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, options.limit ?? 15);
  return { busyMs: busy, idleMs: idle, frames };
}

export function renderTop(title: string, top: ReturnType<typeof topFrames>): string {
  const lines = [`${title}: busy ${top.busyMs.toFixed(0)} ms, idle ${top.idleMs.toFixed(0)} ms`];
  for (const f of top.frames) lines.push(`  ${(100 * f.share).toFixed(1).padStart(5)}%  ${f.selfMs.toFixed(0).padStart(6)} ms  ${f.frame}`);
  return lines.join('\n');
}

/**
 * Where a hot function is called from: its self time grouped by the chain of
 * `depth` callers above it (innermost first).
 */
export function callersOf(profile: CpuProfile, functionName: string, options: { depth?: number; root?: string; limit?: number } = {}): FrameTime[] {
  const times = selfTimes(profile);
  const parent = new Map<number, CpuProfileNode>();
  const byId = new Map<number, CpuProfileNode>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n);
  }
  const agg = new Map<string, number>();
  let total = 0;
  for (const n of profile.nodes) {
    if (n.callFrame.functionName !== functionName) continue;
    const t = times.get(n.id) ?? 0;
    if (t === 0) continue;
    total += t;
    const chain: string[] = [];
    let p = parent.get(n.id);
    while (p && chain.length < (options.depth ?? 3) && p.callFrame.functionName !== '(root)') {
      chain.push(frameName(p.callFrame, options.root));
      p = parent.get(p.id);
    }
    const key = chain.join(' ← ') || '(top)';
    agg.set(key, (agg.get(key) ?? 0) + t);
  }
  return [...agg.entries()]
    .map(([frame, selfMs]) => ({ frame, selfMs, share: total > 0 ? selfMs / total : 0 }))
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, options.limit ?? 8);
}

/**
 * The profile's samples taken in [fromUs, toUs), in the profile's clock (V8's monotonic TimeTicks, the clock of
 * Node's `process.hrtime`, so a window another process measured applies): one phase of a longer run.
 */
export function sliceProfile(profile: CpuProfile, fromUs: number, toUs: number): CpuProfile {
  const { samples, timeDeltas } = profile;
  if (!samples || !timeDeltas) throw new Error('a profile without samples and timeDeltas cannot be cut by time');
  const keptSamples: number[] = [];
  const keptDeltas: number[] = [];
  let t = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i] ?? 0;
    if (t < fromUs || t >= toUs) continue;
    // selfTimes reads the interval after sample i from timeDeltas[i + 1]: keep that pairing.
    if (keptSamples.length === 0) keptDeltas.push(0);
    keptSamples.push(samples[i] as number);
    keptDeltas.push(timeDeltas[i + 1] ?? 0);
  }
  keptDeltas.pop();
  return { ...profile, samples: keptSamples, timeDeltas: keptDeltas, startTime: fromUs, endTime: toUs };
}

/**
 * Time per phase: each sample's time goes to its innermost caller named in `phases` (inclusive time of the
 * phase, minus nested phases), else to `(other)`, `(idle)` or `(garbage collector)`.
 */
export function phaseTimes(profile: CpuProfile, phases: readonly string[]): Map<string, number> {
  const times = selfTimes(profile);
  const parent = new Map<number, CpuProfileNode>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const wanted = new Set(phases);
  const out = new Map<string, number>();
  for (const n of profile.nodes) {
    const t = times.get(n.id) ?? 0;
    if (t === 0) continue;
    let key = n.callFrame.functionName === '(idle)' || n.callFrame.functionName === '(garbage collector)' ? n.callFrame.functionName : '(other)';
    for (let p: CpuProfileNode | undefined = n; p && key === '(other)'; p = parent.get(p.id)) if (wanted.has(p.callFrame.functionName)) key = p.callFrame.functionName;
    out.set(key, (out.get(key) ?? 0) + t);
  }
  return out;
}
