import { describe, expect, it } from 'vitest';
import { busyFraction, costPerTask, parseCpuTotals, parseIo, parseSchedstat, parseStatTicks, parseStatus, readCpuSeconds, readMainThreadCpuSeconds, readMemoryStatus, sampleProcess } from '../../../bench/lib/proc.ts';

const STATUS = `Name:\tnode
Umask:\t0022
State:\tS (sleeping)
VmPeak:\t 1234568 kB
VmSize:\t 1200000 kB
VmHWM:\t  204800 kB
VmRSS:\t  102400 kB
Threads:\t11
`;

describe('Function: parseStatus', () => {
  it('reads VmHWM and VmRSS in bytes when given a /proc status text', () => {
    // Act
    const s = parseStatus(STATUS);

    // Assess
    expect(s.vmHwmBytes).toBe(204800 * 1024);
    expect(s.vmRssBytes).toBe(102400 * 1024);
  });

  it('throws when the VmHWM line is missing', () => {
    expect(() => parseStatus('Name:\tx\nVmRSS:\t 1 kB\n')).toThrow(/VmHWM/);
  });
});

describe('Function: parseStatTicks', () => {
  it('reads utime and stime when the command name holds spaces and parentheses', () => {
    // Prepare: fields 14 and 15 are 4321 and 765
    const line = '4242 (node (recc) sched) S 1 4242 4242 0 -1 4194304 5000 0 0 0 4321 765 0 0 20 0 11 0 100 1000000 2500';

    // Act
    const t = parseStatTicks(line);

    // Assess
    expect(t).toEqual({ utime: 4321, stime: 765 });
  });

  it('throws when the line is malformed', () => {
    expect(() => parseStatTicks('garbage')).toThrow();
    expect(() => parseStatTicks('1 (x) S 1')).toThrow();
  });
});

describe('Function: readMemoryStatus / readCpuSeconds', () => {
  it('reads this process, whose peak RSS is at least its current RSS', () => {
    // Act
    const mem = readMemoryStatus(process.pid);
    const cpu = readCpuSeconds(process.pid);

    // Assess
    expect(mem.vmRssBytes).toBeGreaterThan(1024 * 1024);
    expect(mem.vmHwmBytes).toBeGreaterThanOrEqual(mem.vmRssBytes);
    expect(cpu).toBeGreaterThan(0);
  });
});

describe('Function: parseSchedstat / readMainThreadCpuSeconds', () => {
  it('reads nanoseconds run and waited, and rejects a malformed line', () => {
    expect(parseSchedstat('635238 3039569 1\n')).toEqual({ runNs: 635_238, waitNs: 3_039_569 });
    expect(() => parseSchedstat('garbage')).toThrow(/malformed/);
  });

  it("reads this process's main thread, which grows as it spins", () => {
    const before = readMainThreadCpuSeconds(process.pid);
    // Spin until the counter moves (it counts nanoseconds, so a short spin is enough).
    let after = before;
    for (let x = 0; after === before; x++) after = readMainThreadCpuSeconds(process.pid);
    expect(after).toBeGreaterThan(before);
  });
});

describe('Function: parseCpuTotals / busyFraction', () => {
  it('counts user, nice, system, irq, softirq and steal as busy, idle and iowait as not', () => {
    // Prepare
    const text = 'cpu  100 10 50 800 40 0 5 5 0 0\ncpu0 50 5 25 400 20 0 2 3 0 0\nintr 1\n';

    // Act
    const t = parseCpuTotals(text);

    // Assess
    expect(t).toEqual({ busy: 170, total: 1010 });
  });

  it('gives the busy share between two readings', () => {
    expect(busyFraction({ busy: 100, total: 1000 }, { busy: 150, total: 1200 })).toBe(0.25);
    expect(busyFraction({ busy: 100, total: 1000 }, { busy: 100, total: 1000 })).toBe(0);
  });

  it('throws when there is no aggregate line', () => {
    expect(() => parseCpuTotals('cpu0 1 2 3 4\n')).toThrow();
  });
});

describe('Function: parseIo / costPerTask', () => {
  it('reads syscall counters from /proc io', () => {
    const io = parseIo('rchar: 6976\nwchar: 12\nsyscr: 10\nsyscw: 3\nread_bytes: 0\n');
    expect(io).toEqual({ syscr: 10, syscw: 3, rchar: 6976, wchar: 12 });
  });

  it('divides CPU and syscalls by the number of tasks', () => {
    // Prepare
    const before = { cpu: 1, sys: 0.25, io: { syscr: 100, syscw: 50, rchar: 0, wchar: 0 } };
    const after = { cpu: 1.5, sys: 0.35, io: { syscr: 1100, syscw: 2050, rchar: 0, wchar: 0 } };

    // Act
    const c = costPerTask(before, after, 1000);

    // Assess
    expect(c.cpuUsPerTask).toBeCloseTo(500);
    expect(c.sysUsPerTask).toBeCloseTo(100);
    expect(c.readsPerTask).toBe(1);
    expect(c.writesPerTask).toBe(2);
  });

  it('samples this process', () => {
    const s = sampleProcess(process.pid);
    expect(s.cpu).toBeGreaterThan(0);
    expect(s.sys).toBeLessThanOrEqual(s.cpu);
    expect(s.io.syscr).toBeGreaterThan(0);
  });
});
