import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { arrowPatches, patchIsValid } from '../../../client/arrow-patches.ts';

const validPath = createRequire(import.meta.url).resolve('apache-arrow').replace(/Arrow\.node\.js$/, 'builder/valid.mjs');
const dir = mkdtempSync(join(tmpdir(), 'recc-arrow-patches-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A module bundled as client.module bundles (with or without the plugin), imported. */
async function bundled(plugins: boolean): Promise<Record<string, (...args: unknown[]) => unknown>> {
  const entry = join(dir, 'entry.ts');
  writeFileSync(
    entry,
    `import { makeBuilder, vectorFromArray, Utf8, Float64 } from 'apache-arrow';
     export const isValidOf = (nullValues) => makeBuilder({ type: new Utf8(), nullValues })._isValid;
     export const floats = (values, nullValues) => { const b = makeBuilder({ type: new Float64(), nullValues }); for (const v of values) b.append(v); return [...b.finish().toVector()]; };
     export const strings = (values) => [...vectorFromArray(values, new Utf8())];`,
  );
  const out = join(dir, `bundle-${plugins ? 'patched' : 'plain'}.mjs`);
  await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'node', outfile: out, absWorkingDir: process.cwd(), nodePaths: [join(process.cwd(), 'node_modules')], logLevel: 'silent', plugins: plugins ? [arrowPatches] : [] });
  return (await import(pathToFileURL(out).href)) as Record<string, (...args: unknown[]) => unknown>;
}

describe('the apache-arrow patch of bundled modules (client/arrow-patches.ts)', () => {
  it('applies to the pinned apache-arrow (an upgrade that changes valid.mjs fails here)', () => {
    const patched = patchIsValid(readFileSync(validPath, 'utf8'));
    expect(patched).toBeDefined();
    expect(patched).toContain('reccIsValidBySource.get(source)');
    expect(patchIsValid('export function createIsValidFunction() { return () => true; }')).toBeUndefined();
  });

  it('builders with the same null values share one isValid; values and nulls come out as without the patch', async () => {
    const patched = await bundled(true);
    const plain = await bundled(false);
    expect(patched.isValidOf!([null, undefined])).toBe(patched.isValidOf!([null, undefined]));
    // [null], what vectorFromArray passes (a new array each call): one function, not rebuilt from source each time.
    expect(patched.isValidOf!([null])).toBe(patched.isValidOf!([null]));
    expect(patched.isValidOf!([null])).not.toBe(patched.isValidOf!([null, undefined]));
    expect(plain.isValidOf!([null, undefined])).not.toBe(plain.isValidOf!([null, undefined]));
    // Different null values: different functions, each with its own meaning.
    expect(patched.isValidOf!([null, 'n/a'])).not.toBe(patched.isValidOf!([null, undefined]));
    const values = [1.5, null, Number.NaN, -1, undefined, 0];
    for (const nulls of [[null], [null, undefined], [null, Number.NaN], [-1], [0, null], [undefined]]) {
      expect(patched.floats!(values, nulls)).toEqual(plain.floats!(values, nulls));
    }
    // undefined is a value here (not listed as null): Float64 stores it as NaN.
    expect(patched.floats!(values, [null, Number.NaN])).toEqual([1.5, null, null, -1, Number.NaN, 0]);
    expect(patched.strings!(['a', null, '__proto__'])).toEqual(['a', null, '__proto__']);
  });
});
