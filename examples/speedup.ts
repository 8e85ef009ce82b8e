import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The main job's speedup line. Wall time alone misleads on a busy machine:
 * "0.89×" there means the workers got less CPU than they asked for, not that
 * the cluster is slower than serial. So the line also says how loaded the
 * machine was (1-minute load average against the CPU count, taken before the
 * run) and gives the speedup in CPU terms: the serial CPU time over the
 * cluster's CPU time per worker, i.e. the speedup had every worker had a CPU
 * of its own, and how many CPUs the cluster actually got.
 */
export interface SpeedupFigures {
  serialMs: number;
  clusterMs: number;
  nWorkers: number;
  cpus: number;
  /** 1-minute load average sampled just before the cluster run (others' load). */
  loadBefore: number;
  /** CPU time (user + system) of the serial run, this process. */
  serialCpuMs?: number;
  /** CPU time of the cluster's processes during the run; absent where it cannot be read. */
  clusterCpuMs?: number;
}

/** A load average at or above half the CPUs counts as a loaded machine: the workers compete for CPUs. */
export const LOADED_SHARE = 0.5;

export function isLoaded(loadBefore: number, cpus: number): boolean {
  return loadBefore >= cpus * LOADED_SHARE;
}

export function speedupLine(f: SpeedupFigures): string {
  const wall = f.serialMs / f.clusterMs;
  const parts = [`${wall.toFixed(2)}× wall time with ${f.nWorkers} workers on ${f.cpus} CPUs`];
  if (f.clusterCpuMs !== undefined && f.serialCpuMs !== undefined && f.clusterCpuMs > 0) {
    const clusterCpus = f.clusterCpuMs / f.clusterMs;
    // The speedup with a free CPU for every worker: the same work's CPU time, spread over the workers.
    const parallel = Math.min(f.nWorkers, f.cpus);
    const cpuSpeedup = f.serialCpuMs / (f.clusterCpuMs / parallel);
    parts.push(
      `${cpuSpeedup.toFixed(2)}× in CPU terms (serial ${(f.serialCpuMs / 1000).toFixed(1)} CPU-s, cluster ${(f.clusterCpuMs / 1000).toFixed(1)} CPU-s over ${parallel} workers; ` +
        `the cluster got ${clusterCpus.toFixed(1)} of ${parallel} CPUs on average)`,
    );
  }
  parts.push(
    isLoaded(f.loadBefore, f.cpus)
      ? `machine loaded: load average ${f.loadBefore.toFixed(1)} on ${f.cpus} CPUs before the run, so the wall-time figure understates the speedup`
      : `load average ${f.loadBefore.toFixed(1)} on ${f.cpus} CPUs`,
  );
  return parts.join('; ');
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
const USER_HZ = 100;

/** utime + stime of one process in ms (Linux /proc), or undefined when it is gone or unreadable. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? ((utime + stime) * 1000) / USER_HZ : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU time of a local-stack cluster's processes so far (scheduler and
 * workers, from the local backend's state file), or undefined off Linux.
 */
export function clusterCpuMs(stateDir: string, clusterId: string): number | undefined {
  let pids: number[];
  try {
    const state = JSON.parse(readFileSync(join(stateDir, 'clusters', clusterId, 'state.json'), 'utf8')) as { processes?: Array<{ pid?: number }> };
    pids = (state.processes ?? []).map((p) => p.pid).filter((p): p is number => typeof p === 'number');
  } catch {
    return undefined;
  }
  const times = pids.map(processCpuMs);
  if (times.length === 0 || times.some((t) => t === undefined)) return undefined;
  return times.reduce<number>((a, b) => a + (b ?? 0), 0);
}
