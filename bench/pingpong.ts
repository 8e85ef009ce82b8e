import { createServer, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { percentile } from './lib/stats.ts';
import { costPerTask, sampleProcess, type ProcessCost } from './lib/proc.ts';

/**
 * The floor under submit→result latency: a 64-byte message bounced between
 * two Node processes over loopback TCP (one write and one wake-up each way).
 * A recc round trip is four such hops (client → scheduler → worker →
 * scheduler → client), so 2 × this round trip is the least it can cost here.
 */
export async function measurePingPong(options: { rounds: number; bytes?: number }): Promise<{ p50Us: number; p99Us: number; samples: number; perRoundTrip: Record<string, ProcessCost> }> {
  const payload = Buffer.alloc(options.bytes ?? 64, 7);
  const server = createServer({ noDelay: true });
  const connected = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const peer = fileURLToPath(new URL('./pingpong-peer.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', peer, String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const sock = await connected;
  sock.setNoDelay(true);
  const rtts: number[] = [];
  const warm = Math.min(200, options.rounds);
  let before: ReturnType<typeof sampleProcess>[] = [];
  let perRoundTrip: Record<string, ProcessCost> = {};
  try {
    await new Promise<void>((resolve, reject) => {
      let got = 0;
      let round = 0;
      let t0 = process.hrtime.bigint();
      sock.on('error', reject);
      sock.on('data', (b: Buffer) => {
        got += b.length;
        if (got < payload.length) return;
        got -= payload.length;
        const dt = Number(process.hrtime.bigint() - t0) / 1000;
        if (round >= warm) rtts.push(dt);
        round++;
        if (round === warm) before = [sampleProcess(process.pid), sampleProcess(child.pid!)];
        if (round >= options.rounds + warm) {
          const after = [sampleProcess(process.pid), sampleProcess(child.pid!)];
          perRoundTrip = { sender: costPerTask(before[0]!, after[0]!, options.rounds), echo: costPerTask(before[1]!, after[1]!, options.rounds) };
          resolve();
          return;
        }
        t0 = process.hrtime.bigint();
        sock.write(payload);
      });
      sock.write(payload);
    });
  } finally {
    sock.destroy();
    server.close();
    await exited;
  }
  return { p50Us: percentile(rtts, 50), p99Us: percentile(rtts, 99), samples: rtts.length, perRoundTrip };
}
