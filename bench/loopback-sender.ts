import { createServer, type Socket } from 'node:net';
import { randomFillSync } from 'node:crypto';

/**
 * Child process of bench/loopback.ts: listens on 127.0.0.1 (its port is the
 * first line it prints), and on each of `reps` connections, in turn, writes
 * BYTES in 1 MiB writes of one reused chunk, respecting backpressure, then
 * closes. The receiver connects (an outgoing socket can read with `onread`,
 * as the engine's do). Usage: loopback-sender.ts BYTES REPS
 */
const [bytesArg, repsArg] = process.argv.slice(2);
const total = Number(bytesArg);
const reps = Number(repsArg);
const CHUNK = 1024 * 1024;
const chunk = randomFillSync(Buffer.allocUnsafe(CHUNK));

let served = 0;
const server = createServer({ noDelay: true }, (sock: Socket) => {
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
  sock.on('error', () => {});
  // The receiver closes once it has every byte.
  sock.on('close', () => {
    if (++served === reps) server.close();
  });
  pump();
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
