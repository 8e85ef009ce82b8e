import { createServer, type Server } from 'node:net';

/**
 * `n` distinct free ports on 127.0.0.1. The OS picks them; all are held open
 * together (so they differ) and released at once for the caller to bind.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    return typeof a === 'object' && a ? a.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A listening socket bound here, to hand to a child process (see `preboundListener`). */
export interface PreboundListener {
  readonly port: number;
  /** The socket's descriptor in this process, for the child's `stdio` array. */
  readonly fd: number;
  /** Close this process's descriptor (the child's copy keeps listening). */
  close(): void;
}

/**
 * A TCP socket bound and listening on 127.0.0.1 (port 0: the OS picks),
 * whose descriptor a child process inherits and serves (socket activation,
 * as systemd does it). Peers may connect from the moment this resolves: the
 * kernel completes their connects into the backlog and they wait there,
 * their first bytes buffered, until the child accepts. So workers started
 * alongside their scheduler connect once, instead of polling a closed port
 * (up to a poll interval late, comm/handshake's connect retries), and no
 * other process can take the port between choosing and binding it.
 *
 * Undefined where a descriptor cannot be passed this way (Windows): callers
 * fall back to `freePorts` and a port to bind.
 *
 * Close it right after spawning the child, in the same turn of the event
 * loop: until then this process's loop could accept a connection itself.
 */
export async function preboundListener(): Promise<PreboundListener | undefined> {
  if (process.platform === 'win32') return undefined;
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => resolve());
    });
  } catch {
    return undefined;
  }
  // The bound socket's descriptor: Node exposes it on the server's handle on POSIX systems.
  const fd = (server as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  const a = server.address();
  if (typeof fd !== 'number' || fd < 0 || typeof a !== 'object' || !a) {
    server.close();
    return undefined;
  }
  return { port: a.port, fd, close: () => server.close() };
}
