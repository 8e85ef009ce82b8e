import { createServer, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './lib/stats.ts';

/**
 * The physical ceiling for worker→worker transfer: raw Node TCP over
 * loopback between two processes, 1 MiB writes. This process receives; a
 * child (loopback-sender.ts) sends `bytes` on each of `reps + 1` connections
 * (the first is a warm-up). Each connection is timed from its first byte to
 * its last on the receiver.
 */
export async function measureLoopback(options: { bytes: number; reps: number }): Promise<{ mbPerS: number; samples: number[]; receiverCpuMsPerCopy: number; receiverKernelMsPerCopy: number }> {
  const { bytes, reps } = options;
  const durations: number[] = [];
  let cpu = { user: 0, system: 0 };
  const server = createServer({ noDelay: true });
  const done = new Promise<void>((resolve, reject) => {
    let seen = 0;
    server.on('connection', (sock: Socket) => {
      let received = 0;
      let start = 0n;
      let cpu0 = process.cpuUsage();
      sock.on('data', (buf: Buffer) => {
        if (received === 0) {
          start = process.hrtime.bigint();
          cpu0 = process.cpuUsage();
        }
        received += buf.length;
        if (received >= bytes) {
          const seconds = Number(process.hrtime.bigint() - start) / 1e9;
          if (seen > 0) {
            durations.push(seconds);
            const d = process.cpuUsage(cpu0);
            cpu = { user: cpu.user + d.user, system: cpu.system + d.system };
          }
          seen++;
          sock.destroy();
          if (seen === reps + 1) resolve();
        }
      });
      sock.on('error', reject);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const sender = fileURLToPath(new URL('./loopback-sender.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', sender, String(port), String(bytes), String(reps + 1)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await Promise.race([
      done,
      exited.then((code) => {
        if (durations.length < reps) throw new Error(`loopback sender exited early with code ${code}`);
      }),
    ]);
  } finally {
    await exited;
    server.close();
  }
  const med = median(durations);
  const n = Math.max(1, durations.length);
  return {
    mbPerS: bytes / med / 1e6,
    samples: durations.map((d) => bytes / d / 1e6),
    receiverCpuMsPerCopy: (cpu.user + cpu.system) / 1000 / n,
    receiverKernelMsPerCopy: cpu.system / 1000 / n,
  };
}
