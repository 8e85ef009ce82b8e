/**
 * The `transfer` measure and the raw loopback ceiling, interleaved: each
 * repetition moves one result worker→worker (the bench's method: wall time of
 * a dependent task pinned to the other worker), then the same bytes over a
 * raw loopback socket (bench/loopback.ts's method: 1 MiB writes, timed on the
 * receiver from first byte to last). Interleaving puts both under the same
 * machine load, so the per-repetition ratio is fairer on a shared machine
 * than two figures taken seconds apart. Also printed per transfer: CPU
 * (user/kernel, ms) and minor page faults of the sending and the receiving
 * worker, from /proc.
 *
 *   npx tsx bench/micro-transfer.ts [MiB] [reps] [warm]
 *
 * `warm` runs the consumer that many times on tiny input first, so the
 * worker promotes it to its main thread (worker/pool.ts); a consumer of
 * pooled receive memory must still run in a thread (bench/FINDINGS.md §3c).
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { Client, LocalCluster } from '../client/index.ts';
import { median } from './lib/stats.ts';

const mib = Number(process.argv[2] ?? '100');
const reps = Number(process.argv[3] ?? '8');
const warm = Number(process.argv[4] ?? '0');
const nbytes = mib * 1024 * 1024;

/** CPU (ms, at the 10 ms tick) and minor faults of a process so far. */
function stat(pid: number): { minflt: number; user: number; sys: number } {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // proc(5) fields 10 (minflt), 14 (utime), 15 (stime); f starts at field 3.
  return { minflt: Number(f[7]), user: Number(f[11]) * 10, sys: Number(f[12]) * 10 };
}
const diff = (a: ReturnType<typeof stat>, b: ReturnType<typeof stat>) => ({ user: b.user - a.user, sys: b.sys - a.sys, minflt: b.minflt - a.minflt });

// Raw loopback: a child connects on demand and writes `nbytes` in 1 MiB writes of one reused chunk (bench/loopback-sender.ts).
const server = createServer({ noDelay: true });
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as { port: number }).port;
const senderSource = `
const net = require('node:net'); const { randomFillSync } = require('node:crypto');
const CHUNK = 1 << 20, total = ${nbytes}, chunk = randomFillSync(Buffer.allocUnsafe(CHUNK));
process.stdin.on('data', () => {
  const sock = net.connect({ port: ${port}, host: '127.0.0.1', noDelay: true }, () => {
    let sent = 0;
    const pump = () => { while (sent < total) { const n = Math.min(CHUNK, total - sent); sent += n; if (!sock.write(n === CHUNK ? chunk : chunk.subarray(0, n))) { sock.once('drain', pump); return; } } sock.end(); };
    pump();
  });
  sock.on('error', () => {}); sock.resume();
});
process.stdin.on('end', () => process.exit(0));
`;
const sender = spawn(process.execPath, ['-e', senderSource], { stdio: ['pipe', 'ignore', 'inherit'] });
async function loopbackOnce(): Promise<number> {
  const seconds = new Promise<number>((resolve) => {
    server.once('connection', (sock: Socket) => {
      let received = 0;
      let start = 0n;
      sock.on('data', (buf: Buffer) => {
        if (received === 0) start = process.hrtime.bigint();
        received += buf.length;
        if (received >= nbytes) {
          resolve(Number(process.hrtime.bigint() - start) / 1e9);
          sock.destroy();
        }
      });
    });
  });
  sender.stdin.write('go\n');
  return seconds;
}

{
  await using cluster = await LocalCluster.start({ nWorkers: 0 });
  await cluster.addWorker({ name: 'xf-a', resources: { A: 1 } });
  await cluster.addWorker({ name: 'xf-b', resources: { B: 1 } });
  await using client = await Client.connect(cluster);
  const pid = (name: string): number => cluster.workerProcesses.find((w) => w.name === name)!.pid;
  const [pa, pb] = [pid('xf-a'), pid('xf-b')];
  if (process.env.XF_WINDOWS) console.log('pids', pa, pb);
  const produce = (n: number, salt: number): Uint8Array => {
    const b = new Uint8Array(n);
    for (let o = 0; o < n; o += 65536) crypto.getRandomValues(b.subarray(o, Math.min(n, o + 65536)));
    b[0] = salt & 255;
    return b;
  };
  const size = (b: Uint8Array): number => b.byteLength;
  for (let i = 0; i < warm; i++) await client.submitWith({ resources: { B: 1 }, pure: false }, size, new Uint8Array(1)).result();
  const ratios: number[] = [];
  const phases: number[] = [];
  for (let rep = 0; rep <= reps; rep++) {
    const a = client.submitWith({ resources: { A: 1 }, pure: false }, produce, nbytes, rep);
    await a.wait();
    let t0 = performance.now();
    await client.submitWith({ resources: { B: 1 }, pure: false }, size, new Uint8Array(1)).result();
    const baseMs = performance.now() - t0;
    const [sa, sb] = [stat(pa), stat(pb)];
    t0 = performance.now();
    const w0 = new Date().toISOString();
    const n = await client.submitWith({ resources: { B: 1 }, pure: false }, size, a).result();
    const wall = (performance.now() - t0) / 1000;
    if (process.env.XF_WINDOWS) console.log('window', w0, new Date().toISOString());
    const [ea, eb] = [stat(pa), stat(pb)];
    if (n !== nbytes) throw new Error(`consumer saw ${n} bytes`);
    a.release();
    const raw = await loopbackOnce();
    const phase = process.env.XF_PHASE ? Number(readFileSync(process.env.XF_PHASE, 'utf8').trim().split('\n').pop()) : undefined;
    if (phase !== undefined && rep > 0) phases.push(raw * 1000 / phase);
    if (rep > 0) ratios.push(raw / wall);
    console.log(
      JSON.stringify({
        rep,
        transferMBps: Math.round(nbytes / wall / 1e6),
        loopbackMBps: Math.round(nbytes / raw / 1e6),
        ratio: Math.round((raw / wall) * 100) / 100,
        ...(phase !== undefined ? { dataPhaseMs: Math.round(phase * 10) / 10, wallMs: Math.round(wall * 10000) / 10, loopbackMs: Math.round(raw * 10000) / 10 } : {}),
        baseMs: Math.round(baseMs * 10) / 10,
        sender: diff(sa, ea),
        receiver: diff(sb, eb),
        load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
      }),
    );
  }
  console.log(`median transfer/loopback over reps 1..${reps}: ${median(ratios).toFixed(2)}`);
  if (phases.length > 0) console.log(`median (receiver's first to last byte)/loopback: ${median(phases).toFixed(2)}`);
}
sender.stdin.end();
server.close();
