/**
 * esbuild plugin for the modules recc bundles for workers (client.module, and the table ops module that hands user
 * functions `ctx.arrow`): one fix to apache-arrow's builders.
 *
 * Why: every Arrow Builder (vectorFromArray, tableFromJSON, makeBuilder) compiles a fresh `isValid` function with
 * `new Function` from its null values (builder/valid.mjs, createIsValidFunction). A groupBy().apply whose function
 * builds a small table per group therefore compiles one function per group: the compile itself, Node scanning each
 * generated source for a source-map comment (worker threads enable source maps for module tasks), and call sites in
 * the builder that see a new closure every time. The generated function depends only on its source text, so equal
 * sources share one function here. Same results; the only change is that builders with the same null values share
 * their (stateless) `isValid`. Measured in bench/FINDINGS.md §8c.
 *
 * If the pinned Arrow's text ever differs, the file is left as it is (test/unit/client/arrow-patches.test.ts fails,
 * so an upgrade notices).
 */
import { readFile } from 'node:fs/promises';
import type { Plugin } from 'esbuild';

/** The statement in apache-arrow 21's builder/valid.mjs that compiles the function. */
export const IS_VALID_COMPILE = 'return new Function(`x`, `${fnBody}\\nreturn true;`);';

const IS_VALID_SHARED = [
  '{ const source = `${fnBody}\\nreturn true;`;',
  '  let shared = reccIsValidBySource.get(source);',
  '  if (shared === undefined) reccIsValidBySource.set(source, (shared = new Function(`x`, source)));',
  '  return shared; }',
].join('\n');

/** The declaration of the function patched. */
export const IS_VALID_DECLARATION = 'export function createIsValidFunction(nullValues) {';

/**
 * The exported function after the patch: `[null]` (what vectorFromArray passes, a new array each call) answered
 * without building the source at all; any other null values by their source text.
 */
const IS_VALID_EXPORT = `
/** recc (client/arrow-patches.ts): builders share their isValid. */
let reccOnlyNull;
export function createIsValidFunction(nullValues) {
    if (nullValues && nullValues.length === 1 && nullValues[0] === null) return (reccOnlyNull ??= reccCompileIsValid(nullValues));
    return reccCompileIsValid(nullValues);
}
`;

/** valid.mjs with its compiled functions shared by source text, or undefined if its text is not the one patched. */
export function patchIsValid(source: string): string | undefined {
  const at = source.indexOf(IS_VALID_COMPILE);
  const decl = source.indexOf(IS_VALID_DECLARATION);
  if (at < 0 || source.indexOf(IS_VALID_COMPILE, at + 1) >= 0 || decl < 0 || source.indexOf(IS_VALID_DECLARATION, decl + 1) >= 0) return undefined;
  const head = '/** recc: one isValid per null-values source (client/arrow-patches.ts). */\nconst reccIsValidBySource = new Map();\n';
  const shared = `${source.slice(0, at)}${IS_VALID_SHARED}${source.slice(at + IS_VALID_COMPILE.length)}`;
  return `${head}${shared.replace(IS_VALID_DECLARATION, 'function reccCompileIsValid(nullValues) {')}${IS_VALID_EXPORT}`;
}

export const arrowPatches: Plugin = {
  name: 'recc-arrow-patches',
  setup(build) {
    build.onLoad({ filter: /[\\/]apache-arrow[\\/]builder[\\/]valid\.mjs$/ }, async (args) => {
      const patched = patchIsValid(await readFile(args.path, 'utf8'));
      return patched === undefined ? undefined : { contents: patched, loader: 'js' };
    });
  },
};
