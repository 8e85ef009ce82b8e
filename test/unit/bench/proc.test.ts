import { describe, expect, it } from 'vitest';
import { parseStatTicks, parseStatus, readCpuSeconds, readMemoryStatus } from '../../../bench/lib/proc.ts';

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
