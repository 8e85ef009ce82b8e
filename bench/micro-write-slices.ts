/**
 * Why comm/comm.ts hands large frames to the socket in WRITE_SLICE pieces.
 *
 * Raw Node TCP over loopback between two processes: this process receives
 * each 100 MiB copy with `onread` into one reused 100 MiB buffer (as a worker
 * receives a dependency into pooled memory); a child sends it from a 100 MiB
 * buffer, handing the socket `slice` bytes at a time and waiting for 'drain'
 * before the next. Printed per slice size: the median MB/s (receiver, first
 * byte to last) and the sender's CPU per copy.
 *
 *   npx tsx bench/micro-write-slices.ts [reps] [MiB]
 *
 * 2026-12-07, 2-core VM at load ~0.5: 1 MiB slices 4,340-4,570 MB/s with
 * 23-24 ms of sender CPU; 4 MiB 3,280-3,320 with 31 ms; one 100 MiB write
 * 2,800-3,040 MB/s with 32-34 ms.
 */
import { spawn } from 'node:child_process';
import { connect, createServer, Socket, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { median } from './lib/stats.ts';

const MiB = 1024 * 1024;

async function sendAll(port: number, total: number, slice: number, reps: number): Promise<void> {
  const big = Buffer.alloc(total, 7);
  for (let r = 0; r < reps; r++) {
    const cpu0 = process.cpuUsage();
    await new Promise<void>((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1', noDelay: true }, () => {
        let off = 0;
        const pump = (): void => {
          while (off < total) {
            const end = Math.min(total, off + slice);
            const more = s.write(big.subarray(off, end));
            off = end;
            if (!more) {
              s.once('drain', pump);
              return;
            }
          }
          s.end();
        };
        pump();
      });
      s.on('close', () => resolve());
      s.on('error', reject);
      s.resume();
    });
    const c = process.cpuUsage(cpu0);
    process.stdout.write(`${(c.user + c.system) / 1000}\n`);
  }
}

async function measure(slice: number, total: number, reps: number): Promise<{ mbPerS: number; senderCpuMs: number }> {
  const target = Buffer.alloc(total);
  const durations: number[] = [];
  const server: Server = createServer({ noDelay: true, pauseOnConnect: true }, (accepted) => {
    // Re-wrap the accepted handle so the kernel writes straight into `target` (net.Socket's onread).
    const handle = (accepted as unknown as { _handle: unknown })._handle;
    (accepted as unknown as { _handle: unknown })._handle = null;
    let got = 0;
    let t0 = 0n;
    const sock = new Socket({
      handle,
      onread: {
        buffer: () => target.subarray(got),
        callback: (n: number) => {
          if (got === 0) t0 = process.hrtime.bigint();
          got += n;
          if (got >= total) {
            durations.push(Number(process.hrtime.bigint() - t0) / 1e9);
            sock.destroy();
          }
          return true;
        },
      },
    } as ConstructorParameters<typeof Socket>[0]);
    sock.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'send', String(port), String(total), String(slice), String(reps + 1)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve) => child.on('exit', () => resolve()));
  server.close();
  const cpu = out.trim().split('\n').slice(1).map(Number);
  return { mbPerS: total / median(durations.slice(1)) / 1e6, senderCpuMs: median(cpu) };
}

if (process.argv[2] === 'send') {
  const [port, total, slice, reps] = process.argv.slice(3).map(Number) as [number, number, number, number];
  await sendAll(port, total, slice, reps);
} else {
  const reps = Number(process.argv[2] ?? '10');
  const total = Number(process.argv[3] ?? '100') * MiB;
  for (const slice of [MiB, 4 * MiB, total]) {
    const r = await measure(slice, total, reps);
    console.log(`${String(slice / MiB).padStart(4)} MiB writes: ${Math.round(r.mbPerS)} MB/s, sender ${r.senderCpuMs.toFixed(1)} ms CPU per copy`);
  }
}
