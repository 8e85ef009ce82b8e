import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * How many CPUs this process may use (issue 19 #6): the cgroup CPU quota
 * (v2 `cpu.max`, v1 `cpu.cfs_quota_us / cpu.cfs_period_us`) when there is
 * one, else the CPUs the OS gives it (affinity included). More task threads
 * than this only make them take turns: a pod with a 2-CPU limit and 8
 * threads is throttled by the kernel every period, which is where CPU
 * efficiency goes. `read` is injectable for tests.
 */
export function cgroupCpuQuota(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): number | undefined {
  let membership = '';
  try {
    membership = read('/proc/self/cgroup');
  } catch {}
  const v2: string[] = [];
  const v1: string[] = [];
  for (const line of membership.split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    const rel = path === '/' ? '' : path;
    if (controllers === '') v2.push(`/sys/fs/cgroup${rel}/cpu.max`);
    else if (controllers?.split(',').includes('cpu')) v1.push(`/sys/fs/cgroup/cpu,cpuacct${rel}`, `/sys/fs/cgroup/cpu${rel}`);
  }
  // Inside a container's cgroup namespace the files sit at the root.
  v2.push('/sys/fs/cgroup/cpu.max');
  v1.push('/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpu');
  let quota: number | undefined;
  const keep = (q: number) => (quota = quota === undefined ? q : Math.min(quota, q));
  for (const path of v2) {
    try {
      const [max, period] = read(path).trim().split(/\s+/);
      if (max !== 'max' && Number(max) > 0 && Number(period) > 0) keep(Number(max) / Number(period));
    } catch {}
  }
  for (const dir of v1) {
    try {
      const q = Number(read(`${dir}/cpu.cfs_quota_us`).trim());
      const p = Number(read(`${dir}/cpu.cfs_period_us`).trim());
      if (q > 0 && p > 0) keep(q / p);
    } catch {}
  }
  return quota;
}

/** Task threads that fit this process's CPUs: the quota rounded up (as Dask's CPU_COUNT), at most the CPUs there are, at least 1. */
export function fittingThreads(quota: number | undefined = cgroupCpuQuota(), cpus: number = availableParallelism()): number {
  return Math.max(1, Math.min(cpus, quota === undefined ? cpus : Math.ceil(quota)));
}
