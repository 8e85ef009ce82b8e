import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * The scheduler, worker and task-thread processes start for every cluster
 * and every restarted worker, from one esbuild bundle each (comm/launch.ts).
 * What they import statically is parsed and run at every start: zod alone
 * made each start ~200 ms slower and each no-op task ~25 % dearer in CPU.
 * Heavy libraries that only some features need (the SQS bridge, columnar
 * tables) must be loaded with a dynamic `import()` when that feature is used.
 */
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const HEAVY = ['zod', '@aws-sdk/', '@smithy/', 'apache-arrow', 'hyparquet', 'nodejs-polars', '@duckdb/', '@kubernetes/client-node'];
const ENTRIES = { scheduler: 'scheduler/entry.ts', worker: 'worker/entry.ts', thread: 'worker/thread.ts' };

async function staticGraph(entry: string): Promise<{ inputs: string[]; chains: Map<string, string[]> }> {
  const result = await esbuild.build({
    entryPoints: [entry], absWorkingDir: ROOT, bundle: true, write: false, outdir: '/tmp/recc-bundle-weight', format: 'esm',
    platform: 'node', metafile: true, logLevel: 'silent', external: ['msgpackr-extract', 'esbuild', 'tsx'],
  });
  const meta = result.metafile.inputs;
  // Follow only static imports from the entry, remembering how each file was reached.
  const chains = new Map<string, string[]>([[entry, [entry]]]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const imp of meta[file]?.imports ?? []) {
      if (imp.kind !== 'import-statement' && imp.kind !== 'require-call') continue;
      if (imp.external || chains.has(imp.path)) continue;
      chains.set(imp.path, [...chains.get(file)!, imp.path]);
      queue.push(imp.path);
    }
  }
  return { inputs: [...chains.keys()], chains };
}

describe('Engine process bundles', () => {
  for (const [name, entry] of Object.entries(ENTRIES)) {
    it(`${name}: no heavy library in the static import graph`, { timeout: 60_000 }, async () => {
      const { inputs, chains } = await staticGraph(entry);
      const heavy = inputs.filter((f) => HEAVY.some((h) => f.includes(`node_modules/${h}`)));
      // Report the first file of each heavy package with the chain that pulls it in.
      const seen = new Set<string>();
      const why: string[] = [];
      for (const f of heavy) {
        const pkg = HEAVY.find((h) => f.includes(`node_modules/${h}`))!;
        if (seen.has(pkg)) continue;
        seen.add(pkg);
        why.push(`${pkg}: ${chains.get(f)!.filter((p) => !p.includes('node_modules/') || p === f).join(' → ')}`);
      }
      expect(why).toEqual([]);
      expect(inputs.length).toBeGreaterThan(10);
    });
  }
});
