import { describe, expect, it } from 'vitest';
import { processCpuMs, speedupLine } from '../../../examples/speedup.ts';

describe('Function: speedupLine', () => {
  it('says in the same line that a loaded machine understates the speedup, and gives it in CPU terms', () => {
    // A busy 2-CPU machine: the cluster took longer than serial (0.89×) but got only 0.9 CPUs.
    const line = speedupLine({ serialMs: 8_900, clusterMs: 10_000, nWorkers: 2, cpus: 2, loadBefore: 3.1, serialCpuMs: 8_000, clusterCpuMs: 9_000 });

    expect(line).toBe(
      '0.89× wall time with 2 workers on 2 CPUs; ' +
        '1.78× in CPU terms (serial 8.0 CPU-s, cluster 9.0 CPU-s over 2 workers; the cluster got 0.9 of 2 CPUs on average); ' +
        'machine loaded: load average 3.1 on 2 CPUs before the run, so the wall-time figure understates the speedup',
    );
    expect(line.split('\n')).toHaveLength(1);
  });

  it('shows the load plainly on an idle machine and leaves out CPU terms it could not measure', () => {
    const line = speedupLine({ serialMs: 9_000, clusterMs: 3_000, nWorkers: 4, cpus: 8, loadBefore: 0.4 });

    expect(line).toBe('3.00× wall time with 4 workers on 8 CPUs; load average 0.4 on 8 CPUs');
  });
});

describe('Function: processCpuMs', () => {
  it.runIf(process.platform === 'linux')('reads this process\'s CPU time from /proc, and nothing for a pid that does not exist', () => {
    const before = processCpuMs(process.pid) ?? -1;
    // Burn 50 ms of CPU, not 50 ms of wall time: on a loaded machine a wall-time loop may get no CPU tick at all.
    const start = process.cpuUsage();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const used = process.cpuUsage(start);
      if ((used.user + used.system) / 1000 >= 50) break;
    }
    const after = processCpuMs(process.pid) ?? -1;

    expect(before).toBeGreaterThanOrEqual(0);
    expect(after).toBeGreaterThan(before);
    expect(processCpuMs(2 ** 22 + 7)).toBeUndefined();
  });
});
