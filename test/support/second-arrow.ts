import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * A second, separate copy of apache-arrow, as a task module bundled by
 * `client.module()` carries: esbuild bundles the package into one file,
 * which is imported from a temporary directory. Its classes are not the
 * ones `import 'apache-arrow'` gives the test.
 */
export async function loadSecondArrow(): Promise<typeof import('apache-arrow')> {
  const esbuild = await import('esbuild');
  const dir = await mkdtemp(join(tmpdir(), 'recc-second-arrow-'));
  try {
    const res = await esbuild.build({
      stdin: { contents: "export * from 'apache-arrow';", resolveDir: process.cwd(), loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      logLevel: 'silent',
    });
    const file = join(dir, 'arrow-copy.mjs');
    await writeFile(file, res.outputFiles[0]!.contents);
    return (await import(pathToFileURL(file).href)) as typeof import('apache-arrow');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
