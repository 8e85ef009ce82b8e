/**
 * Print the top self-time frames of CPU profiles:
 *   tsx bench/profile-top.ts DIR_OR_FILES... [--limit N] [--by file]
 * Used with `npm run bench -- --profile DIR` to write bench/FINDINGS.md.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderTop, topFrames, type CpuProfile } from './lib/cpuprofile.ts';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const args = process.argv.slice(2);
let limit = 15;
let by: 'function' | 'file' = 'function';
const paths: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--limit') limit = Number(args[++i]);
  else if (args[i] === '--by') by = args[++i] === 'file' ? 'file' : 'function';
  else paths.push(args[i]!);
}
const files = paths.flatMap((p) => (statSync(p).isDirectory() ? readdirSync(p).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(p, f)) : [p]));
for (const f of files.sort()) {
  const profile = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
  process.stdout.write(`${renderTop(f, topFrames(profile, { limit, root: ROOT, by }))}\n\n`);
}
