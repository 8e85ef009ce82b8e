import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, connect as netConnect, Socket as NetSocket, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { pack, unpack } from 'msgpackr';
import type { Logger } from '../shared/core/logger.ts';
import { parseAddress, formatAddress } from './address.ts';
import { AdmissionControl, HANDSHAKE_TIMEOUT_MS, type AdmissionLimits } from './admission.ts';
import { Comm } from './comm.ts';
import { AuthenticationError, CommError, ConnectionDroppedError, MalformedFrameError } from './errors.ts';
import { FrameDecoder, encodeFrame, parseBody } from './framing.ts';
import { PROTOCOL_VERSION } from './protocol/messages.ts';

/** Largest frame an unauthenticated peer may send (the hello): garbage cannot make us allocate more. */
export const MAX_HELLO_BYTES = 64 * 1024;

/** What a connecting peer says first. The token is checked before anything else is read. */
export interface Hello {
  token: string;
  role: 'client' | 'worker' | 'peer';
  [field: string]: unknown;
}

export interface TlsFiles {
  certPem: string;
  keyPem: string;
  caPem?: string;
}

/** Constant-time token comparison (hashing first makes lengths equal). */
export function tokensEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

export interface ListenOptions {
  host: string;
  port: number;
  /**
   * Serve this inherited descriptor of a socket already bound and listening
   * (comm/free-ports preboundListener) instead of binding `host`:`port`.
   */
  fd?: number;
  token: string;
  tls?: TlsFiles;
  logger: Logger;
  /** Bounds on connections that have not authenticated yet (comm/admission.ts has the defaults). */
  admission?: Partial<AdmissionLimits>;
  /**
   * Called once a peer authenticated. Returns the fields of the welcome reply,
   * or throws to refuse the peer (the error message is sent back).
   */
  accept(comm: Comm, hello: Hello): Record<string, unknown>;
}

export interface Listener {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Listen for framed connections; every peer must present the token in its first frame. */
export async function listen(options: ListenOptions): Promise<Listener> {
  const admission = new AdmissionControl(options.admission ?? {}, options.logger);
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };
  const onSecureSocket = (socket: Socket) => {
    track(socket);
    handshakeServerSide(socket, options, admission, dataEvents(socket));
  };
  const server: NetServer = options.tls
    ? createTlsServer(
        {
          cert: options.tls.certPem,
          key: options.tls.keyPem,
          ...(options.tls.caPem ? { ca: options.tls.caPem } : {}),
          // Node's default is 120 s: far too long to hold a descriptor for a peer that has not even finished TLS.
          handshakeTimeout: admission.limits.silentTimeoutMs,
        },
        onSecureSocket,
      )
    : // Plain TCP: accepted sockets are not read until re-wrapped with `onread` (readDirect).
      createServer({ pauseOnConnect: true });
  // Admission runs on the raw TCP socket, first, for TLS too: a refused peer costs no decoder, timer or TLS state of ours.
  server.on('connection', (raw: Socket) => {
    if (!admission.admit(raw) || options.tls) return;
    const direct = readDirect(raw, server);
    if (!direct) {
      // This Node does not let the handle be re-wrapped: read through the stream as TLS sockets do.
      raw.resume();
      onSecureSocket(raw);
      return;
    }
    admission.replace(raw, direct.socket);
    track(direct.socket);
    handshakeServerSide(direct.socket, options, admission, direct.reader);
  });
  if (options.tls) {
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      // ECONNRESET is our own destroy of a refused or evicted socket (already counted) or a peer that left: not a TLS refusal.
      if (err.code === 'ECONNRESET') return;
      admission.count('refusedTls', socket.remoteAddress ? `${socket.remoteAddress}:${socket.remotePort}` : undefined);
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if (options.fd !== undefined) server.listen({ fd: options.fd }, done);
    else server.listen(options.port, options.host, done);
  });
  server.on('error', (err) => options.logger.error('listener error', { event: 'comm.listener-error', error: err }));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.port;
  const host = options.host === '0.0.0.0' || options.host === '::' ? options.host : options.host;
  const address = formatAddress({ protocol: options.tls ? 'tls' : 'tcp', host, port });
  admission.listener = address;
  admission.start();
  return {
    address,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        admission.stop();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * How a connection's bytes reach the handshake and then its Comm: frame
 * bodies through `setSink` (the decoder already applied), and whether the
 * Comm must subscribe to 'data' itself (stream sockets) or is fed by the
 * reader (`onread` sockets).
 */
interface ConnectionReader {
  readonly decoder: FrameDecoder;
  /**
   * Where complete frame bodies go from now on (called on every read, with
   * no bodies while a frame is incomplete), and what to do with bytes that
   * are not frames (by default the connection is destroyed with the error).
   */
  setSink(sink: (bodies: Buffer[]) => void, onMalformed?: (err: Error) => void): void;
  /** Stop delivering (refused peer, or the Comm reads the stream itself); later bytes are dropped. */
  stop(): void;
  /** True when the Comm is fed through `setSink` (no 'data' listener of its own). */
  readonly external: boolean;
}

/** A stream socket ('data' events), as TLS sockets are read. */
function dataEvents(socket: Socket): ConnectionReader {
  const decoder = new FrameDecoder(MAX_HELLO_BYTES);
  let sink: ((bodies: Buffer[]) => void) | undefined;
  let onMalformed: ((err: Error) => void) | undefined;
  const onData = (chunk: Buffer) => {
    if (!sink) return;
    let bodies: Buffer[];
    try {
      bodies = decoder.push(chunk);
    } catch (err) {
      sink = undefined;
      if (onMalformed) onMalformed(err as Error);
      else socket.destroy(err as Error);
      return;
    }
    sink(bodies);
  };
  socket.on('data', onData);
  return {
    decoder,
    external: false,
    setSink: (s, m) => {
      sink = s;
      onMalformed = m;
    },
    stop: () => {
      sink = undefined;
      socket.off('data', onData);
    },
  };
}

/**
 * Re-wrap an accepted (paused, unread) TCP socket's handle in a socket that
 * reads with `onread`, as outgoing connections do (connect below): the
 * kernel reads into the decoder's target directly (a large frame straight
 * into its pooled body), and no bytes pass through the stream machinery
 * (Readable.push, 'data' events, a nextTick per read). On the scheduler,
 * which reads every message of a cluster, the stream path was a tenth of
 * its CPU per message (bench/FINDINGS.md §2c).
 *
 * Node has no public way to accept with `onread`, so this moves the handle:
 * the original wrapper gives it up, and the new one takes over the server's
 * connection count. Undefined when the handle is not there to move (the
 * caller then reads the stream).
 */
function readDirect(raw: Socket, server: NetServer): { socket: Socket; reader: ConnectionReader } | undefined {
  const internals = raw as unknown as { _handle: unknown; _server: unknown; server: unknown };
  const handle = internals._handle;
  if (!handle || typeof handle !== 'object') return undefined;
  const decoder = new FrameDecoder(MAX_HELLO_BYTES);
  let sink: ((bodies: Buffer[]) => void) | undefined;
  let onMalformed: ((err: Error) => void) | undefined;
  // The socket made below, for the read callback (reads start only once it exists).
  const made: { socket?: Socket } = {};
  const onread = {
    buffer: () => decoder.readTarget(),
    callback: (n: number): boolean => {
      if (!sink) return false;
      let bodies: Buffer[];
      try {
        bodies = decoder.onRead(n);
      } catch (err) {
        sink = undefined;
        if (onMalformed) onMalformed(err as Error);
        else made.socket?.destroy(err as Error);
        return false;
      }
      sink(bodies);
      return true;
    },
  };
  internals._handle = null;
  internals._server = null;
  internals.server = null;
  const socket = new NetSocket({ handle: handle as never, onread, readable: true, writable: true } as ConstructorParameters<typeof NetSocket>[0]);
  made.socket = socket;
  const fresh = socket as unknown as { _server: unknown; server: unknown };
  // The server counts its connections down when one of its sockets is destroyed (net.Socket#_destroy).
  fresh._server = server;
  fresh.server = server;
  return {
    socket,
    reader: {
      decoder,
      external: true,
      setSink: (s, m) => {
        sink = s;
        onMalformed = m;
      },
      stop: () => (sink = undefined),
    },
  };
}

function handshakeServerSide(socket: Socket, options: ListenOptions, admission: AdmissionControl, reader: ConnectionReader): void {
  const decoder = reader.decoder;
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  const { silentTimeoutMs, handshakeTimeoutMs } = admission.limits;
  let done = false;
  let heard = false;
  // Refusals are counted and summarised by `admission`, not logged one by one: a flood must not become a log flood.
  const refuse = (reason: 'closedSilent' | 'closedTimeout' | 'closedMalformed' | 'refusedBadToken', reply?: string) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    reader.stop();
    admission.count(reason, peer);
    if (reply) socket.end(encodeFrame(pack({ ok: false, error: reply })));
    else socket.destroy();
    setTimeout(() => socket.destroy(), 1000).unref();
  };
  // One timer: first the silent deadline, then (for a peer that spoke) the rest of the handshake deadline.
  let timer = setTimeout(() => {
    if (!heard) refuse('closedSilent');
    else (timer = setTimeout(() => refuse('closedTimeout'), handshakeTimeoutMs - silentTimeoutMs)).unref();
  }, silentTimeoutMs);
  timer.unref();
  socket.on('error', () => {
    clearTimeout(timer);
    done = true;
  });
  reader.setSink(
    (bodies) => {
      if (done) return;
      if (!heard) {
        heard = true;
        admission.heard(socket);
      }
      if (bodies.length === 0) return;
      let hello: Hello;
      try {
        const frame = parseBody(bodies[0] as Buffer);
        const value = unpack(frame.header) as Partial<Hello> | null;
        if (!value || typeof value !== 'object' || typeof value.token !== 'string' || typeof value.role !== 'string') {
          throw new MalformedFrameError('hello lacks token or role');
        }
        hello = value as Hello;
      } catch {
        refuse('closedMalformed');
        return;
      }
      if (!tokensEqual(hello.token, options.token)) {
        refuse('refusedBadToken', 'authentication failed');
        return;
      }
      done = true;
      clearTimeout(timer);
      admission.authenticated(socket);
      let comm: Comm;
      if (reader.external) {
        comm = new Comm(socket, decoder, bodies.slice(1), true);
        reader.setSink((b) => comm.receive(b));
      } else {
        reader.stop();
        comm = new Comm(socket, decoder, bodies.slice(1));
      }
      let welcome: Record<string, unknown>;
      try {
        welcome = options.accept(comm, hello);
      } catch (err) {
        options.logger.warn('peer refused', { event: 'comm.refused', reason: (err as Error).message, peer });
        socket.end(encodeFrame(pack({ ok: false, error: (err as Error).message })));
        return;
      }
      socket.write(encodeFrame(pack({ ok: true, ...welcome })));
    },
    () => refuse('closedMalformed'),
  );
}

export interface ConnectOptions {
  token: string;
  hello: Omit<Hello, 'token'>;
  caPem?: string;
  timeoutMs?: number;
}

/** Connect, present the token and wait for the welcome. */
export async function connect(address: string, options: ConnectOptions): Promise<{ comm: Comm; welcome: Record<string, unknown> }> {
  const a = parseAddress(address);
  // The reply is held to the hello limit; what the listener sends behind it is its first messages.
  const decoder = new FrameDecoder(MAX_HELLO_BYTES, { liftLimitAfterFirstFrame: true });
  // Plain TCP reads straight into frame bodies (onread): a large result lands
  // where it will live without an extra copy. TLS sockets use 'data' events.
  let sink: (bodies: Buffer[]) => void = () => {};
  let readError: Error | undefined;
  const socket: Socket =
    a.protocol === 'tls'
      ? tlsConnect({ host: a.host, port: a.port, ...(options.caPem ? { ca: options.caPem } : {}), servername: isIp(a.host) ? undefined : a.host })
      : netConnect({
          host: a.host,
          port: a.port,
          onread: {
            buffer: () => decoder.readTarget(),
            callback: (n: number) => {
              if (readError) return false;
              let bodies: Buffer[];
              try {
                bodies = decoder.onRead(n);
              } catch (err) {
                readError = err as Error;
                socket.destroy(readError);
                return false;
              }
              if (bodies.length > 0) sink(bodies);
              return true;
            },
          },
        });
  const external = a.protocol !== 'tls';
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new CommError(`no handshake reply from ${address} within ${options.timeoutMs ?? HANDSHAKE_TIMEOUT_MS} ms`)), options.timeoutMs ?? HANDSHAKE_TIMEOUT_MS);
    // Dropped after the TCP connect but before any reply: the listener may be shedding load (admission limits); callers may retry.
    let tcpConnected = false;
    socket.once('connect', () => (tcpConnected = true));
    const dropped = (cause?: Error) => new ConnectionDroppedError(`${address} dropped the connection during the handshake (it may be at its connection limit)`, { cause });
    socket.once('error', (err: NodeJS.ErrnoException) =>
      fail(tcpConnected && (err.code === 'ECONNRESET' || err.code === 'EPIPE') ? dropped(err) : new CommError(`cannot connect to ${address}: ${err.message}`, { cause: err })),
    );
    socket.once('close', () => fail(tcpConnected ? dropped() : new CommError(`connection to ${address} closed during the handshake`)));
    socket.once(a.protocol === 'tls' ? 'secureConnect' : 'connect', () => {
      socket.setNoDelay(true);
      // The protocol version travels once per connection, here (comm/protocol/messages.ts says why).
      socket.write(encodeFrame(pack({ protocol: PROTOCOL_VERSION, ...options.hello, token: options.token })));
    });
    const onBodies = (bodies: Buffer[]) => {
      if (settled || bodies.length === 0) return;
      let reply: { ok?: boolean; error?: string } & Record<string, unknown>;
      try {
        reply = unpack(parseBody(bodies[0] as Buffer).header) as typeof reply;
      } catch (err) {
        fail(new MalformedFrameError('undecodable handshake reply', { cause: err }));
        return;
      }
      if (!reply || reply.ok !== true) {
        const msg = reply?.error ?? 'refused';
        fail(msg === 'authentication failed' ? new AuthenticationError(`${address} rejected the token`) : new CommError(`${address} refused the connection: ${msg}`));
        return;
      }
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      const comm = new Comm(socket, decoder, bodies.slice(1), external);
      if (external) sink = (b) => comm.receive(b);
      const { ok: _ok, ...welcome } = reply;
      resolve({ comm, welcome });
    };
    if (external) sink = onBodies;
    else {
      socket.on('data', (chunk: Buffer) => {
        if (settled) return;
        try {
          onBodies(decoder.push(chunk));
        } catch (err) {
          fail(err as Error);
        }
      });
    }
  });
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
