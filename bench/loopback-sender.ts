import { connect } from 'node:net';
import { randomFillSync } from 'node:crypto';

/**
 * Child process of bench/loopback.ts: connects `reps` times in turn to
 * 127.0.0.1:PORT and writes BYTES in 1 MiB writes on each connection,
 * respecting backpressure. Usage: loopback-sender.ts PORT BYTES REPS
 */
const [portArg, bytesArg, repsArg] = process.argv.slice(2);
const port = Number(portArg);
const total = Number(bytesArg);
const reps = Number(repsArg);
const CHUNK = 1024 * 1024;
const chunk = randomFillSync(Buffer.allocUnsafe(CHUNK));

async function sendOnce(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const sock = connect({ port, host: '127.0.0.1', noDelay: true }, () => {
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          const n = Math.min(CHUNK, total - sent);
          sent += n;
          const ok = sock.write(n === CHUNK ? chunk : chunk.subarray(0, n));
          if (!ok) {
            sock.once('drain', pump);
            return;
          }
        }
        sock.end();
      };
      pump();
    });
    sock.on('error', reject);
    // The receiver closes once it has every byte.
    sock.on('close', () => resolve());
    sock.resume();
  });
}

for (let i = 0; i < reps; i++) await sendOnce();
