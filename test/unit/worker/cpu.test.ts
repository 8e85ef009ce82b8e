import { describe, expect, it } from 'vitest';
import { cgroupCpuQuota, fittingThreads } from '../../../worker/cpu.ts';

/** A fake /proc + /sys: the files that exist, everything else throws like a missing file. */
const files = (entries: Record<string, string>) => (path: string): string => {
  const v = entries[path];
  if (v === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return v;
};

describe('Function: cgroupCpuQuota', () => {
  it('reads a cgroup v2 cpu.max quota for this process', () => {
    expect(cgroupCpuQuota(files({ '/proc/self/cgroup': '0::/kubepods/pod1/c1\n', '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': '150000 100000\n' }))).toBe(1.5);
  });

  it('treats "max" as no quota', () => {
    expect(cgroupCpuQuota(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000\n' }))).toBeUndefined();
  });

  it('reads cgroup v1 cfs quota and period; -1 is no quota', () => {
    const v1 = { '/proc/self/cgroup': '4:cpu,cpuacct:/docker/abc\n', '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '200000', '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000' };
    expect(cgroupCpuQuota(files(v1))).toBe(2);
    expect(cgroupCpuQuota(files({ ...v1, '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '-1' }))).toBeUndefined();
  });

  it('takes the smallest of several limits, and survives garbage and unreadable files', () => {
    expect(cgroupCpuQuota(files({ '/proc/self/cgroup': '0::/a\n', '/sys/fs/cgroup/a/cpu.max': '50000 100000', '/sys/fs/cgroup/cpu.max': '300000 100000' }))).toBe(0.5);
    expect(cgroupCpuQuota(files({ '/proc/self/cgroup': 'garbage', '/sys/fs/cgroup/cpu.max': 'nonsense' }))).toBeUndefined();
    expect(cgroupCpuQuota(files({}))).toBeUndefined();
  });
});

describe('Function: fittingThreads', () => {
  it('rounds a fractional quota up, never exceeds the CPUs and is at least 1', () => {
    expect(fittingThreads(1.5, 8)).toBe(2);
    expect(fittingThreads(16, 4)).toBe(4);
    expect(fittingThreads(0.1, 4)).toBe(1);
    expect(fittingThreads(undefined, 6)).toBe(6);
  });
});
