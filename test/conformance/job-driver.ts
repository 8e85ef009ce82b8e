import { describe, expect, it } from 'vitest';
import type { JobRecord, RunRecord } from '../../shared/jobs/types.ts';
import type { JobDriver } from '../../shared/ports/job-driver.ts';
import { waitFor } from '../support/wait.ts';

/**
 * The JobDriver contract (`shared/ports/job-driver.ts`), run against every
 * adapter: the local child-process driver and the EKS driver (a Kubernetes
 * Job on the fake API server). `prepare` gives a run whose driver writes
 * `output` (to stderr) and exits with `exitCode`, or runs until killed.
 */
export interface DriverScript {
  output: string;
  /** undefined: the driver runs until it is killed. */
  exitCode?: number;
}

export interface DriverUnderTest {
  driver: JobDriver;
  prepare(script: DriverScript): Promise<{ run: RunRecord; job: JobRecord; clusterId: string }>;
  /** Let the adapter's world move on (the fake cluster's controllers). */
  tick(): void;
}

export function jobDriverConformance(name: string, make: () => Promise<DriverUnderTest>): void {
  describe(`JobDriver conformance: ${name}`, () => {
    const exited = async (d: DriverUnderTest, runId: string) =>
      waitFor(
        async () => {
          d.tick();
          const s = await d.driver.status(runId);
          return s && !s.running ? s : undefined;
        },
        { what: `the driver of ${runId} to exit` },
      );

    it('starts once per run; its exit status and output tail are reported; its logs are copied and readable', async () => {
      const d = await make();
      const input = await d.prepare({ output: 'loading prices\nError: the input is missing\n', exitCode: 3 });
      await d.driver.start(input);
      await d.driver.start(input);
      const status = await exited(d, input.run.id);
      expect(status).toMatchObject({ running: false, exitCode: 3, signal: null });
      expect(status.running === false && status.stderrTail).toContain('Error: the input is missing');
      const ref = await d.driver.copyLogs(input.run.id);
      expect(ref).toEqual(expect.stringContaining(input.run.id));
      expect(await d.driver.copyLogs(input.run.id)).toBe(ref);
      expect(await d.driver.readLogs(input.run.id)).toContain('loading prices');
    });

    it('a driver that exits 0 reports exit code 0', async () => {
      const d = await make();
      const input = await d.prepare({ output: 'done\n', exitCode: 0 });
      await d.driver.start(input);
      expect(await exited(d, input.run.id)).toMatchObject({ running: false, exitCode: 0 });
    });

    it('kill stops a running driver, keeps what it wrote, and is idempotent', async () => {
      const d = await make();
      const input = await d.prepare({ output: 'working on 2026-12-05\n' });
      await d.driver.start(input);
      await waitFor(
        async () => {
          d.tick();
          return (await d.driver.status(input.run.id))?.running && (await d.driver.readLogs(input.run.id))?.includes('working on');
        },
        { what: 'the driver to run and write' },
      );
      await d.driver.kill(input.run.id);
      await d.driver.kill(input.run.id);
      d.tick();
      const after = await d.driver.status(input.run.id);
      expect(after === undefined || after.running === false).toBe(true);
      await d.driver.copyLogs(input.run.id);
      expect(await d.driver.readLogs(input.run.id)).toContain('working on 2026-12-05');
    });

    it('knows nothing of a run it never started, and says so without failing', async () => {
      const d = await make();
      const runId = 'r-0000000000000-20261205t000000000z';
      expect(await d.driver.status(runId)).toBeUndefined();
      await d.driver.kill(runId);
      expect(await d.driver.copyLogs(runId)).toBeUndefined();
      expect(await d.driver.readLogs(runId)).toBeUndefined();
    });
  });
}
