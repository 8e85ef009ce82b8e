import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';
import { ENGINE_ENTRIES, engineBundleOptions } from '../../../comm/launch.ts';

/**
 * The scheduler, worker and task-thread processes start for every cluster
 * and every restarted worker, from the esbuild bundles comm/launch.ts builds.
 * What an entry loads before its first line runs (its static closure: the
 * entry and every chunk or external package it imports statically) is read,
 * parsed and run at every start. zod alone made each start ~200 ms slower and
 * each no-op task ~25 % dearer in CPU; the AWS SDK, imported by a module that
 * was itself only reached by `await import()`, was hoisted into the entry and
 * tripled the start time. Heavy libraries must stay behind a dynamic import,
 * in a chunk of their own. This builds with the launcher's own options, so it
 * checks the bundle the processes run.
 */
const HEAVY = ['zod', '@aws-sdk/', '@smithy/', 'apache-arrow', 'hyparquet', 'nodejs-polars', '@duckdb/', '@kubernetes/client-node', 'yaml'];
/**
 * Bytes of the static closure of each entry: the thread ~130 KB, the scheduler
 * ~375 KB and the worker ~400 KB, commander, msgpackr and the engine itself.
 * The entries import their engine statically since 2026-12-06; before, the
 * same bytes loaded at once through a dynamic import this walk did not follow
 * (its closure then measured ~135 KB).
 */
const BUDGET_BYTES = 450_000;
/**
 * Files in that closure: each ES module file costs a start ~0.8 ms of CPU
 * whatever its size. Built together, the three entries shared their code
 * through chunks and a worker read 18 files (comm/launch.ts).
 */
const MAX_FILES = 10;


function packageOf(path: string): string | undefined {
  const at = path.lastIndexOf('node_modules/');
  if (at < 0) return path.startsWith('node:') || path.startsWith('.') || path.startsWith('/') ? undefined : path;
  return path.slice(at + 'node_modules/'.length);
}

describe('Engine process bundles', () => {
  for (const entry of ENGINE_ENTRIES) {
    it(`${entry}: no heavy library loads at start, and the start closure is within ${BUDGET_BYTES / 1000} KB and ${MAX_FILES} files`, { timeout: 60_000 }, async () => {
      const { metafile } = await esbuild.build({ ...engineBundleOptions(`/tmp/recc-bundle-weight/${entry}`, entry), write: false });
      const outputs = metafile.outputs;
      const root = Object.keys(outputs).find((o) => o.endsWith(`/${entry}.mjs`))!;
      expect(root).toBeDefined();
      // Follow the static imports between output files, remembering how each was reached.
      const chains = new Map<string, string[]>([[root, [root]]]);
      const queue = [root];
      const why: string[] = [];
      let bytes = 0;
      let files = 0;
      while (queue.length > 0) {
        const out = queue.shift()!;
        bytes += outputs[out]!.bytes;
        files++;
        const via = chains.get(out)!.join(' → ');
        for (const input of Object.keys(outputs[out]!.inputs)) {
          const pkg = packageOf(input);
          if (pkg && HEAVY.some((h) => pkg.startsWith(h))) why.push(`${input} is bundled into ${via}`);
        }
        for (const imp of outputs[out]!.imports) {
          if (imp.kind !== 'import-statement' && imp.kind !== 'require-call') continue;
          if (imp.external) {
            const pkg = packageOf(imp.path);
            if (pkg && HEAVY.some((h) => pkg.startsWith(h))) why.push(`${imp.path} is imported at start by ${via}`);
            continue;
          }
          if (chains.has(imp.path)) continue;
          chains.set(imp.path, [...chains.get(out)!, imp.path]);
          queue.push(imp.path);
        }
      }
      // One line per heavy package is enough to find the culprit.
      const seen = new Set<string>();
      expect(why.filter((w) => { const k = HEAVY.find((h) => w.includes(h))!; if (seen.has(k)) return false; seen.add(k); return true; })).toEqual([]);
      expect(bytes).toBeGreaterThan(20_000);
      expect(bytes).toBeLessThan(BUDGET_BYTES);
      expect(files).toBeLessThanOrEqual(MAX_FILES);
    });
  }
});
