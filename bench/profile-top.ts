/**
 * Print the top self-time frames of CPU profiles:
 *   tsx bench/profile-top.ts DIR_OR_FILES... [--limit N] [--by file] [--callers FN] [--depth D]
 *        [--window FROM_US,TO_US] [--phases fnA,fnB,...]
 * --window keeps the samples of one phase (df-profile.ts prints each apply's window in the clock of the
 * profiles); --phases prints the time under each named function (innermost wins) instead of the top frames.
 * Used with `npm run bench -- --profile DIR` to write bench/FINDINGS.md.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callersOf, phaseTimes, renderTop, sliceProfile, topFrames, type CpuProfile } from './lib/cpuprofile.ts';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const args = process.argv.slice(2);
let limit = 15;
let by: 'function' | 'file' = 'function';
let callers: string | undefined;
let depth = 3;
let window: [number, number] | undefined;
let phases: string[] | undefined;
const paths: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--limit') limit = Number(args[++i]);
  else if (args[i] === '--by') by = args[++i] === 'file' ? 'file' : 'function';
  else if (args[i] === '--callers') callers = args[++i];
  else if (args[i] === '--depth') depth = Number(args[++i]);
  else if (args[i] === '--window') window = args[++i]!.split(',').map(Number) as [number, number];
  else if (args[i] === '--phases') phases = args[++i]!.split(',');
  else paths.push(args[i]!);
}
const files = paths.flatMap((p) => (statSync(p).isDirectory() ? readdirSync(p).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(p, f)) : [p]));
for (const f of files.sort()) {
  const whole = JSON.parse(readFileSync(f, 'utf8')) as CpuProfile;
  const profile = window ? sliceProfile(whole, window[0], window[1]) : whole;
  if (phases) {
    const rows = [...phaseTimes(profile, phases)].sort((a, b) => b[1] - a[1]);
    process.stdout.write(`${f}\n${rows.map(([k, ms]) => `  ${ms.toFixed(0).padStart(6)} ms  ${k}`).join('\n')}\n\n`);
  } else if (callers) {
    const rows = callersOf(profile, callers, { depth, root: ROOT, limit });
    process.stdout.write(`${f}: callers of ${callers}\n${rows.map((r) => `  ${(100 * r.share).toFixed(1).padStart(5)}%  ${r.selfMs.toFixed(0).padStart(6)} ms  ${r.frame}`).join('\n')}\n\n`);
  } else {
    process.stdout.write(`${renderTop(f, topFrames(profile, { limit, root: ROOT, by }))}\n\n`);
  }
}
