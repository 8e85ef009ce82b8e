/**
 * Evidence for bench/FINDINGS.md §1: what one task key costs on the client,
 * per call, for the ways a key can be made.  tsx bench/micro-keys.ts
 */
import { createHash, randomBytes } from 'node:crypto';

const N = 200_000;
const source = '(x) => x'.repeat(12);
const args = Buffer.from([0x91, 0xcd, 0x12, 0x34]);
let sink = 0;

function time(label: string, fn: (i: number) => string): void {
  for (let i = 0; i < 10_000; i++) sink += fn(i).length;
  const t = performance.now();
  for (let i = 0; i < N; i++) sink += fn(i).length;
  process.stdout.write(`${label.padEnd(44)} ${(((performance.now() - t) / N) * 1000).toFixed(2)} µs/key\n`);
}

const prefix = randomBytes(8).toString('hex');
time('randomBytes(12).toString("hex")', () => randomBytes(12).toString('hex'));
time('sha1(function source) (functionRef per call)', () => createHash('sha1').update(source).digest('hex').slice(0, 16));
time('sha1(fn id + encoded args) (tokenize)', () => createHash('sha1').update('i-0123456789abcdef').update(args).digest('hex').slice(0, 24));
time('client prefix + counter', (i) => `${prefix}-${i.toString(36)}`);
if (sink < 0) process.stdout.write('');
