import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../../client/index.ts';
import { repoPath, waitForExit } from '../../support/engine.ts';

interface LoaderReport {
  innerArrow: unknown;
  innerDeclarations: unknown;
  closure: { refused: boolean; outer?: string[]; message?: string };
  userName: { refused: boolean; outer?: string[]; message?: string };
}

/** Run a child process to completion and parse the JSON line it prints. */
function runChild(command: string, args: string[], env: Record<string, string>): Promise<LoaderReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: repoPath(''), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !line) reject(new Error(`${command} ${args.join(' ')} exited ${code}; stderr: ${stderr.slice(-3000)}`));
      else resolve(JSON.parse(line) as LoaderReport);
    });
  });
}

/**
 * Issue 18, defect 5b: inline task functions with inner functions must run
 * whichever loader produced their source (tsx and esbuild's keepNames wrap
 * inner functions in a `__name(fn, "name")` helper), while closures over
 * outer variables, a user's own `__name` included, are still refused.
 */
describe('Inline functions under plain node, tsx and an esbuild bundle', () => {
  let cluster: LocalCluster;
  let pids: number[];
  let env: Record<string, string>;
  // Inside the repo so the bundle's bare imports (msgpackr, acorn…) resolve from node_modules.
  const bundleDir = repoPath(`node_modules/.cache/recc-loader-test-${process.pid}`);
  const bundlePath = join(bundleDir, 'bundle.mjs');

  beforeAll(async () => {
    cluster = await LocalCluster.start({ nWorkers: 1, threadsPerWorker: 1 });
    pids = cluster.pids;
    env = { RECC_TEST_ADDRESS: cluster.schedulerAddress, RECC_TEST_TOKEN: cluster.token };
    mkdirSync(bundleDir, { recursive: true });
    await build({
      entryPoints: [repoPath('test/e2e/engine/fixtures/loaders/tsx-script.ts')],
      outfile: bundlePath,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      keepNames: true,
      packages: 'external',
      logLevel: 'silent',
    });
  });

  afterAll(async () => {
    await cluster?.close();
    if (pids) await waitForExit(pids);
    rmSync(bundleDir, { recursive: true, force: true });
  });

  const loaders: Array<[string, () => Promise<LoaderReport>]> = [
    ['plain node (.mjs)', () => runChild(process.execPath, [repoPath('test/e2e/engine/fixtures/loaders/node-script.mjs')], env)],
    ['npx tsx (.ts)', () => runChild('npx', ['tsx', repoPath('test/e2e/engine/fixtures/loaders/tsx-script.ts')], env)],
    ['an esbuild bundle with keepNames, run by node', () => runChild(process.execPath, [bundlePath], env)],
  ];

  for (const [name, run] of loaders) {
    it(`${name}: runs inner functions and refuses closures`, async () => {
      // Act
      const report = await run();

      // Assess: inner functions run, and keep their names
      expect(report.innerArrow).toBe(49);
      expect(report.innerDeclarations).toEqual([64, 8, 2, 'cube', 'Box', 'half']);
      // A closure over an outer variable is refused, naming it
      expect(report.closure).toMatchObject({ refused: true, outer: ['k'] });
      // So is a user's own variable named __name (esbuild renames it __name2), used other than as the helper
      expect(report.userName.refused).toBe(true);
      expect(report.userName.outer).toHaveLength(1);
      expect(report.userName.outer?.[0]).toMatch(/^__name\d*$/);
    }, 120_000);
  }
});
