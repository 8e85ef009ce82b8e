import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { preboundListener } from '../../../comm/free-ports.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * A child that starts serving its inherited descriptor 3 only when told to
 * (a line on stdin), so the test controls whether a peer arrived first.
 */
const CHILD = `
const net = require('node:net');
process.stdin.once('data', () => {
  net.createServer((s) => s.end('served by ' + process.pid)).listen({ fd: 3 }, () => console.log('listening'));
});
`;

const children: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function startChild(fd: number) {
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit', fd] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, output: () => out, exited };
}

function dial(port: number): { socket: Socket; connected: Promise<void>; received: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  const received = new Promise<string>((resolve, reject) => {
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
  });
  // Awaited only where the test expects data; a refused dial must not become an unhandled rejection.
  received.catch(() => undefined);
  connected.catch(() => undefined);
  return { socket, connected, received };
}

describe.skipIf(process.platform === 'win32')('preboundListener', () => {
  it('lets a peer connect before the inheriting child listens, and the child serves it', async () => {
    const prebound = await preboundListener();
    expect(prebound).toBeDefined();
    const { port, fd } = prebound!;
    const proc = startChild(fd);
    prebound!.close();

    // The connect completes in the kernel's backlog while the child does not serve yet.
    const peer = dial(port);
    await peer.connected;
    expect(proc.output()).toBe('');

    proc.child.stdin!.write('go\n');
    expect(await peer.received).toBe(`served by ${proc.child.pid}`);
    expect(proc.output()).toContain('listening');
  });

  it('leaves no copy in the parent: once the child is gone the port refuses connections', async () => {
    const prebound = (await preboundListener())!;
    const proc = startChild(prebound.fd);
    prebound.close();
    proc.child.stdin!.write('go\n');
    await waitFor(() => proc.output().includes('listening'), { what: 'the child to listen' });
    expect(await dial(prebound.port).received).toBe(`served by ${proc.child.pid}`);

    proc.child.kill('SIGKILL');
    await proc.exited;
    const after = dial(prebound.port);
    await expect(after.connected).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('gives distinct ports to listeners held at the same time', async () => {
    const a = (await preboundListener())!;
    const b = (await preboundListener())!;
    try {
      expect(a.port).not.toBe(b.port);
      expect(a.fd).not.toBe(b.fd);
    } finally {
      a.close();
      b.close();
    }
  });
});
