import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './lib/stats.ts';

/**
 * The physical ceiling for worker→worker transfer: raw Node TCP over
 * loopback between two processes, received the way the engine receives a
 * large frame. A child (loopback-sender.ts) serves `bytes` in 1 MiB writes on
 * each of `reps + 1` connections (the first is a warm-up); this process
 * connects and reads with `onread` straight into one buffer, whose pages are
 * touched once beforehand (the engine's receive pool reuses memory, so its
 * pages are mapped). Each connection is timed from its first byte to its last.
 *
 * Until 2026-12-07 this receiver took stream 'data' events: a fresh 64 KiB
 * buffer and a JavaScript callback per read, which is not what a worker does
 * (and in the 17:43 UTC bench run it read 1,255 MB/s, below the engine's
 * 1,749). Alternated with that receiver (3 pairs of 9 × 100 MiB): 2,704-3,313
 * against 2,471-3,346 MB/s, receiver CPU 26-30 against 33-46 ms per copy. The
 * wall figure is the kernel's copy either way; this one is the engine's path.
 */
export async function measureLoopback(options: { bytes: number; reps: number }): Promise<{ mbPerS: number; samples: number[]; receiverCpuMsPerCopy: number; receiverKernelMsPerCopy: number }> {
  const { bytes, reps } = options;
  const durations: number[] = [];
  let cpu = { user: 0, system: 0 };
  const sender = fileURLToPath(new URL('./loopback-sender.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', sender, String(bytes), String(reps + 1)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (b: Buffer) => {
      text += b.toString();
      const line = text.split('\n')[0];
      if (text.includes('\n') && line) resolve(Number(line));
    });
    void exited.then((code) => reject(new Error(`loopback sender exited before listening (code ${code})`)));
  });
  // Every page mapped before the first copy, as reused receive memory is.
  const target = Buffer.alloc(bytes).fill(1);
  /** One connection: every byte read into `target`; seconds from the first byte to the last. */
  const receiveOnce = (): Promise<{ seconds: number; cpu: NodeJS.CpuUsage }> =>
    new Promise((resolve, reject) => {
      let received = 0;
      let start = 0n;
      let cpu0 = process.cpuUsage();
      const sock = connect({
        port,
        host: '127.0.0.1',
        noDelay: true,
        onread: {
          buffer: () => target.subarray(received),
          callback: (n: number) => {
            if (received === 0) {
              start = process.hrtime.bigint();
              cpu0 = process.cpuUsage();
            }
            received += n;
            if (received < bytes) return true;
            const seconds = Number(process.hrtime.bigint() - start) / 1e9;
            resolve({ seconds, cpu: process.cpuUsage(cpu0) });
            sock.destroy();
            return false;
          },
        },
      });
      sock.on('error', reject);
    });
  try {
    for (let i = 0; i <= reps; i++) {
      const r = await receiveOnce();
      if (i === 0) continue;
      durations.push(r.seconds);
      cpu = { user: cpu.user + r.cpu.user, system: cpu.system + r.cpu.system };
    }
  } finally {
    await exited;
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
