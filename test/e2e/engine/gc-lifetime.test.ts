import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoPath } from '../../support/engine.ts';

interface ProbeReport {
  mode: string;
  trials: number;
  ok: number;
  failed: number;
  failures: Array<{ trial: number; name: string; message: string }>;
  leaked: number;
}

/**
 * Runs the probe (one LocalCluster, every mode in turn) in its own
 * `node --expose-gc` process: vitest's workers cannot force GC.
 */
function runProbe(trials: number, modes: readonly string[]): Promise<Map<string, ProbeReport>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', repoPath('test/e2e/engine/fixtures/gc-await.ts'), String(trials), ...modes], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 590_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const reports = new Map<string, ProbeReport>();
      for (const line of stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        const r = JSON.parse(line) as ProbeReport;
        reports.set(r.mode, r);
      }
      if (code !== 0) reject(new Error(`probe exited ${code}; stderr: ${stderr.slice(-2000)}`));
      else resolve(reports);
    });
  });
}

/**
 * Issue 18, defect 2: a future that nothing refers to except the promise
 * being awaited must not be collected and cancelled. Each mode runs 100
 * trials with gc() forced (with allocation in between) while the task runs.
 * `release` calls f.release() while f.result() is awaited: the release waits.
 * `dependency` and `delayed-future` pass a future nobody keeps as an argument
 * (of a task, of a delayed call computed only after the collections).
 */
describe('Future lifetime under forced garbage collection', () => {
  const modes = ['result', 'wait', 'gather', 'compute', 'get', 'as-completed', 'progress', 'release', 'dependency', 'delayed-future'] as const;
  let reports: Map<string, ProbeReport>;

  beforeAll(async () => {
    reports = await runProbe(100, modes);
  }, 600_000);

  for (const mode of modes) {
    it(`${mode}: 100 of 100 trials return the right result`, () => {
      const report = reports.get(mode);
      expect(report?.failures).toEqual([]);
      expect(report?.ok).toBe(100);
      // Holding awaited futures must not leak them: once collected, the scheduler forgets their keys.
      expect(report?.leaked).toBe(0);
    });
  }
});
