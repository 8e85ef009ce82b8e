/**
 * Evidence for worker/v8-tuning.ts (bench/FINDINGS.md §2h, §8c): what a V8 flag on a worker's command line costs
 * each task thread. A child node starts 2 worker threads that load a few built-in modules, with and without the
 * flag; printed: the child's CPU ms for the threads' start. A flag changes V8's flag hash, and Node then compiles
 * its built-ins without their code cache, which is why workers set their flags at run time, after the threads.
 *   tsx bench/micro-thread-start.ts [--flag=value ...]   (default: --heap-growing-percent=300)
 */
import { execFileSync } from 'node:child_process';

const flags = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['--heap-growing-percent=300'];
const child = `
const { Worker } = require('node:worker_threads');
const c0 = process.cpuUsage();
const src = 'const { parentPort } = require("node:worker_threads"); require("node:fs"); require("node:crypto"); require("node:zlib"); require("node:http"); parentPort.postMessage(1)';
Promise.all([0, 1].map(() => new Promise((res) => { const w = new Worker(src, { eval: true }); w.once('message', () => w.terminate().then(res)); })))
  .then(() => { const c = process.cpuUsage(c0); console.log(((c.user + c.system) / 1000).toFixed(1)); });`;
const run = (args: string[]): number => Number(execFileSync(process.execPath, [...args, '-e', child], { encoding: 'utf8' }).trim());
for (let i = 0; i < 3; i++) {
  for (const f of [[], ...flags.map((x) => [x])]) process.stdout.write(`${(f[0] ?? 'no flag').padEnd(40)} ${run(f).toFixed(1)} ms CPU for 2 threads\n`);
}
