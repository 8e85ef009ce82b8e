/**
 * Receive cost of one large frame with and without reused memory
 * (comm/buffer-pool.ts, issue 19 #1): this process reads 100 MiB frames the
 * way a worker fetching a dependency does (an outgoing socket with `onread`
 * into FrameDecoder), alternating rounds where the pooled body is given back
 * for reuse and rounds where it is dropped (fresh memory). Reports wall time
 * and CPU (user + kernel) of this process per frame for both. CPU time is
 * what other processes on a shared machine disturb least.
 *
 *   npx tsx bench/micro-receive.ts [MiB] [rounds]
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { receivePool } from '../comm/buffer-pool.ts';
import { FrameDecoder, encodePrefix } from '../comm/framing.ts';
import { median } from './lib/stats.ts';

const mib = Number(process.argv[2] ?? '100');
const rounds = Number(process.argv[3] ?? '8');
const bytes = mib * 1024 * 1024;

// The sender: a child process that answers each connection with one frame (prefix, header, payload).
const sender = `
const net = require('node:net');
const payload = Buffer.alloc(${bytes}, 7);
const header = Buffer.from('h');
const prefix = Buffer.from(${JSON.stringify([...encodePrefix(1, [Buffer.alloc(bytes)])])});
const server = net.createServer({ noDelay: true }, (s) => { s.cork(); s.write(prefix); s.write(header); s.write(payload); s.uncork(); s.end(); });
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
`;
const child = spawn(process.execPath, ['-e', sender], { stdio: ['pipe', 'pipe', 'inherit'] });
const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));

async function receiveOnce(): Promise<{ wallMs: number; cpuMs: number; sysMs: number }> {
  const decoder = new FrameDecoder();
  let t0 = 0n;
  let cpu0 = process.cpuUsage();
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      onread: {
        buffer: () => decoder.readTarget(),
        callback: (n: number) => {
          if (t0 === 0n) {
            t0 = process.hrtime.bigint();
            cpu0 = process.cpuUsage();
          }
          const bodies = decoder.onRead(n);
          if (bodies.length > 0) {
            const cpu = process.cpuUsage(cpu0);
            const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
            const body = bodies[0] as Buffer;
            // What the worker's store does with a received result, then frees it.
            receivePool.store(body);
            receivePool.unstore(body);
            socket.destroy();
            resolve({ wallMs, cpuMs: (cpu.user + cpu.system) / 1000, sysMs: cpu.system / 1000 });
          }
          return true;
        },
      },
    });
    socket.on('error', reject);
  });
}

const fresh: Array<{ wallMs: number; cpuMs: number; sysMs: number }> = [];
const reused: typeof fresh = [];
await receiveOnce(); // warm-up (fills the pool)
for (let r = 0; r < rounds; r++) {
  reused.push(await receiveOnce());
  receivePool.trim();
  fresh.push(await receiveOnce());
}
child.stdin.end();
const summary = (xs: typeof fresh) => ({
  wallMs: Math.round(median(xs.map((x) => x.wallMs))),
  MBps: Math.round(bytes / (median(xs.map((x) => x.wallMs)) / 1000) / 1e6),
  cpuMs: Math.round(median(xs.map((x) => x.cpuMs))),
  kernelMs: Math.round(median(xs.map((x) => x.sysMs))),
});
process.stdout.write(`${JSON.stringify({ MiB: mib, rounds, reusedMemory: summary(reused), freshMemory: summary(fresh), pool: receivePool.stats })}\n`);
