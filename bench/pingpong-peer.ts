import { connect } from 'node:net';

/**
 * Child process of bench/pingpong.ts: connects to 127.0.0.1:PORT and echoes
 * every chunk it receives straight back. Usage: pingpong-peer.ts PORT
 */
const port = Number(process.argv[2]);
const sock = connect({ port, host: '127.0.0.1', noDelay: true });
sock.on('data', (b: Buffer) => sock.write(b));
sock.on('error', () => process.exit(1));
sock.on('close', () => process.exit(0));
