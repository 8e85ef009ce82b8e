import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * How LocalCluster and the local backend start scheduler and worker processes
 * (here, below both, so neither depends on the other). Going through the full CLI (and the
 * tsx loader) costs a few hundred milliseconds per process, so the scheduler,
 * worker and task-thread entries are bundled once with esbuild into
 * `node_modules/.cache/recc/` and rebuilt only when a source file changed
 * (the bundle's input list and mtimes are kept beside it). If bundling is not
 * possible the entries run from source through tsx.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CACHE = join(ROOT, 'node_modules', '.cache', 'recc');

export interface ProcessEntry {
  path: string;
  execArgv: string[];
}

let bundled: boolean | undefined;

export function processEntry(kind: 'scheduler' | 'worker'): ProcessEntry {
  if (bundled === undefined) {
    const built = ensureBundle(CACHE);
    bundled = built.ok;
    // Said once per process: the engine still works from source, but every process starts slower and
    // runs each message in unbundled modules (bench/FINDINGS.md §2i).
    if (!built.ok) process.emitWarning(`recc: could not build the engine bundle in ${CACHE} (${built.reason}); scheduler and worker processes run from source through tsx, which is slower`, { code: 'RECC_ENGINE_BUNDLE' });
  }
  if (bundled) return { path: join(CACHE, `${kind}.mjs`), execArgv: [] };
  return { path: join(ROOT, kind, 'entry.ts'), execArgv: ['--import', import.meta.resolve('tsx/esm')] };
}

function fresh(dir: string): boolean {
  const manifest = join(dir, 'manifest.json');
  if (!existsSync(manifest)) return false;
  try {
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { inputs: Record<string, number> };
    for (const [file, mtime] of Object.entries(m.inputs)) {
      if (statSync(join(ROOT, file)).mtimeMs !== mtime) return false;
    }
    return ['scheduler.mjs', 'worker.mjs', 'thread.mjs'].every((f) => existsSync(join(dir, f)));
  } catch {
    return false;
  }
}

const ENTRY_POINTS = { scheduler: 'scheduler/entry.ts', worker: 'worker/entry.ts', thread: 'worker/thread.ts' } as const;
export type EngineEntry = keyof typeof ENTRY_POINTS;
export const ENGINE_ENTRIES = Object.keys(ENTRY_POINTS) as EngineEntry[];

/**
 * The esbuild options of one engine bundle (one home: the bundle-weight test
 * builds with these too). Each process kind is built on its own, with code
 * splitting, which matters for start time both ways:
 * - with splitting, a module reached only by `await import()` lands in a
 *   chunk read only when that feature is used; without it, it would still be
 *   parsed at start, and its imports of external packages (the AWS SDK,
 *   hyparquet) would be hoisted to the top of the bundle and loaded eagerly;
 * - built together, the three entries shared their common code (comm, the
 *   protocol, msgpackr) through chunks: a worker read 18 files at start, and
 *   each ES module file costs ~0.8 ms of CPU to load, so ~12 ms per worker
 *   start went to file count alone. Built apart, each entry holds its
 *   process's start path itself (the entries import their engine statically).
 */
export function engineBundleOptions(outdir: string, entry: EngineEntry): import('esbuild').BuildOptions & { metafile: true } {
  return {
    entryPoints: { [entry]: join(ROOT, ENTRY_POINTS[entry]) },
    // The metafile's input paths are relative to this, and the manifest resolves them against ROOT. Left to
    // default (the process's working directory), a process started anywhere but the package root recorded
    // paths it could not stat, so every build was thrown away and the engine ran from source (FINDINGS §2i).
    absWorkingDir: ROOT,
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    chunkNames: 'chunk-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // apache-arrow from node_modules, as task code imports it: one Table class, so tables are recognised and sent as IPC.
    // The AWS SDK and the Parquet/engine libraries load only when a task reads a datastore.
    external: ['msgpackr-extract', 'esbuild', 'tsx', 'apache-arrow', 'nodejs-polars', 'hyparquet', 'hyparquet-writer', '@aws-sdk/*', '@smithy/*'],
    banner: { js: "import { createRequire as __reccCreateRequire } from 'node:module'; const require = __reccCreateRequire(import.meta.url);" },
    metafile: true,
    logLevel: 'silent',
  };
}

/**
 * Build the bundles into `dir` if they are stale, synchronously, so the first LocalCluster.start pays once
 * (exported for tests, which build into a directory of their own).
 */
export function ensureBundle(dir: string): { ok: true; built: boolean } | { ok: false; reason: string } {
  if (fresh(dir)) return { ok: true, built: false };
  const tmp = join(dir, `build-${process.pid}`);
  try {
    const require = createRequire(import.meta.url);
    const esbuild = require('esbuild') as typeof import('esbuild');
    mkdirSync(dir, { recursive: true });
    const inputs: Record<string, number> = {};
    // Chunks are content-hashed, so the three builds can share one directory: a name two builds
    // both write has the same bytes.
    for (const entry of ENGINE_ENTRIES) {
      const result = esbuild.buildSync(engineBundleOptions(tmp, entry));
      for (const file of Object.keys(result.metafile.inputs)) {
        if (file.includes('node_modules')) continue;
        inputs[file] = statSync(join(ROOT, file)).mtimeMs;
      }
    }
    // Chunks first (content-hashed names, so a concurrent build writes the
    // same bytes under the same name), then the entries that import them.
    // Another build's chunks stay for an hour: a running process may still load one lazily.
    const chunks = readdirSync(tmp).filter((f) => f.startsWith('chunk-'));
    for (const f of chunks) renameSync(join(tmp, f), join(dir, f));
    for (const f of ['scheduler.mjs', 'worker.mjs', 'thread.mjs']) renameSync(join(tmp, f), join(dir, f));
    const current = new Set(chunks);
    // Also what a builder killed mid-build left (its build-<pid> directory), once it is as old.
    for (const f of readdirSync(dir)) {
      const stale = ((f.startsWith('chunk-') && !current.has(f)) || f.startsWith('build-')) && f !== basename(tmp);
      if (stale && Date.now() - statSync(join(dir, f)).mtimeMs > 3_600_000) rmSync(join(dir, f), { recursive: true, force: true });
    }
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ inputs }));
    return { ok: true, built: true };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? (err.message.split('\n')[0] ?? err.name) : String(err) };
  } finally {
    try {
      rmSync(tmp, { recursive: true, force: true });
    } catch {
      // Nothing to remove where nothing could be made (the directory is not writable, or not a directory).
    }
  }
}
