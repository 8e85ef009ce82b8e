import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
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
const MANIFEST = join(CACHE, 'manifest.json');

export interface ProcessEntry {
  path: string;
  execArgv: string[];
}

let bundled: boolean | undefined;

export function processEntry(kind: 'scheduler' | 'worker'): ProcessEntry {
  if (bundled === undefined) bundled = ensureBundle();
  if (bundled) return { path: join(CACHE, `${kind}.mjs`), execArgv: [] };
  return { path: join(ROOT, kind, 'entry.ts'), execArgv: ['--import', import.meta.resolve('tsx/esm')] };
}

function fresh(): boolean {
  if (!existsSync(MANIFEST)) return false;
  try {
    const m = JSON.parse(readFileSync(MANIFEST, 'utf8')) as { inputs: Record<string, number> };
    for (const [file, mtime] of Object.entries(m.inputs)) {
      if (statSync(join(ROOT, file)).mtimeMs !== mtime) return false;
    }
    return ['scheduler.mjs', 'worker.mjs', 'thread.mjs'].every((f) => existsSync(join(CACHE, f)));
  } catch {
    return false;
  }
}

/** Build (if stale) synchronously, so the first LocalCluster.start pays once. */
function ensureBundle(): boolean {
  if (fresh()) return true;
  try {
    const require = createRequire(import.meta.url);
    const esbuild = require('esbuild') as typeof import('esbuild');
    mkdirSync(CACHE, { recursive: true });
    const tmp = join(CACHE, `build-${process.pid}`);
    const result = esbuild.buildSync({
      entryPoints: { scheduler: join(ROOT, 'scheduler/entry.ts'), worker: join(ROOT, 'worker/entry.ts'), thread: join(ROOT, 'worker/thread.ts') },
      outdir: tmp,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // apache-arrow from node_modules, as task code imports it: one Table class, so tables are recognised and sent as IPC.
      // The AWS SDK and the Parquet/engine libraries load only when a task reads a datastore.
      external: ['msgpackr-extract', 'esbuild', 'tsx', 'apache-arrow', 'nodejs-polars', 'hyparquet', 'hyparquet-writer', '@aws-sdk/*', '@smithy/*'],
      banner: { js: "import { createRequire as __reccCreateRequire } from 'node:module'; const require = __reccCreateRequire(import.meta.url);" },
      metafile: true,
      logLevel: 'silent',
    });
    const inputs: Record<string, number> = {};
    for (const file of Object.keys(result.metafile.inputs)) {
      if (file.includes('node_modules')) continue;
      inputs[file] = statSync(join(ROOT, file)).mtimeMs;
    }
    for (const f of ['scheduler.mjs', 'worker.mjs', 'thread.mjs']) renameSync(join(tmp, f), join(CACHE, f));
    rmSync(tmp, { recursive: true, force: true });
    writeFileSync(MANIFEST, JSON.stringify({ inputs }));
    return true;
  } catch {
    return false;
  }
}
