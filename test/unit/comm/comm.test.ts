import { connect as netConnect } from 'node:net';
import * as arrow from 'apache-arrow';
import { pack } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSE_GRACE_MS, WRITE_SLICE, newPackr, type Comm, type Message } from '../../../comm/comm.ts';
import { receivePool } from '../../../comm/buffer-pool.ts';
import { AuthenticationError } from '../../../comm/errors.ts';
import { decodeValue, encodeValue } from '../../../comm/payload.ts';
import { encodeFrame, encodePrefix } from '../../../comm/framing.ts';
import { connect, listen, tokensEqual, type Listener } from '../../../comm/handshake.ts';
import { silentLogger, type Logger } from '../../../shared/core/logger.ts';
import { waitFor } from '../../support/wait.ts';

const TOKEN = 'a-long-shared-token';
let listener: Listener | undefined;
const comms: Comm[] = [];

afterEach(async () => {
  for (const c of comms.splice(0)) c.destroy();
  await listener?.close();
  listener = undefined;
});

/** A listener whose accepted comms collect what they receive. */
async function server(logger: Logger = silentLogger) {
  const received: Array<{ msg: Message; bufs: Buffer[] | undefined }> = [];
  const accepted: Comm[] = [];
  listener = await listen({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    logger,
    accept: (comm, hello) => {
      accepted.push(comm);
      comm.onMessage((msg, bufs) => received.push({ msg, bufs }));
      return { role: hello.role };
    },
  });
  return { received, accepted, address: listener.address, port: listener.port };
}

describe('Function: tokensEqual', () => {
  it('compares tokens of any length', () => {
    expect(tokensEqual('abc', 'abc')).toBe(true);
    expect(tokensEqual('abc', 'abcd')).toBe(false);
    expect(tokensEqual('', 'x')).toBe(false);
  });
});

describe('Class: Comm', () => {
  describe('Method: send', () => {
    it('batches messages sent in one event-loop turn into one frame', async () => {
      // Prepare
      const srv = await server();
      const { comm, welcome } = await connect(srv.address, { token: TOKEN, hello: { role: 'client' } });
      comms.push(comm);

      // Act
      for (let i = 0; i < 1000; i++) comm.send({ op: 'task', i });

      // Assess
      await waitFor(() => srv.received.length === 1000, { what: '1000 messages' });
      expect(welcome).toEqual({ role: 'client' });
      expect(comm.stats.framesOut).toBe(1);
      expect(srv.accepted[0]!.stats.framesIn).toBe(1);
      expect(srv.received.map((r) => r.msg.i)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    });

    it('delivers large buffers as attachments, byte for byte', async () => {
      const srv = await server();
      const { comm } = await connect(srv.address, { token: TOKEN, hello: { role: 'client' } });
      comms.push(comm);
      const big = Buffer.alloc(5 * 1024 * 1024);
      for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
      comm.send({ op: 'data', small: true }, [Buffer.from('tiny')]);
      comm.send({ op: 'data', small: false }, [big, Buffer.from('tail')]);
      await waitFor(() => srv.received.length === 2, { what: 'both messages' });
      expect(srv.received[0]!.bufs!.map((b) => b.toString())).toEqual(['tiny']);
      expect(srv.received[1]!.bufs![0]!.equals(big)).toBe(true);
      expect(srv.received[1]!.bufs![1]!.toString()).toBe('tail');
    });

    it('hands a large frame to the socket one slice at a time, later frames behind it, and closes only once all is written', async () => {
      // Prepare: record every write the socket is given
      const srv = await server();
      const { comm } = await connect(srv.address, { token: TOKEN, hello: { role: 'client' } });
      comms.push(comm);
      const socket = (comm as unknown as { socket: import('node:net').Socket }).socket;
      const writes: number[] = [];
      const write = socket.write.bind(socket) as (chunk: Buffer, cb?: () => void) => boolean;
      (socket as unknown as { write: typeof write }).write = (chunk, cb) => {
        writes.push(chunk.byteLength);
        return write(chunk, cb);
      };
      const big = Buffer.alloc(9 * WRITE_SLICE + 12345);
      for (let i = 0; i < big.length; i += 1021) big[i] = (i / 1021) % 251;

      // Act: a large frame, then small ones sent while its slices are still going out, then close
      comm.send({ op: 'big', i: 0 }, [big]);
      comm.flush();
      const bytesAfterFirstFlush = writes.reduce((a, b) => a + b, 0);
      for (let i = 1; i <= 3; i++) comm.send({ op: 'small', i }, [Buffer.from(`s${i}`)]);
      comm.flush();
      await comm.close();

      // Assess: no single write above a slice; the first flush handed over one slice's worth (frame head included)
      await waitFor(() => srv.received.length === 4, { what: 'all four messages' });
      expect(Math.max(...writes)).toBeLessThanOrEqual(WRITE_SLICE);
      expect(bytesAfterFirstFlush).toBeLessThanOrEqual(WRITE_SLICE);
      expect(writes.reduce((a, b) => a + b, 0)).toBeGreaterThan(big.length);
      expect(srv.received.map((r) => r.msg.i)).toEqual([0, 1, 2, 3]);
      expect(srv.received[0]!.bufs![0]!.equals(big)).toBe(true);
      expect(srv.received.slice(1).map((r) => r.bufs![0]!.toString())).toEqual(['s1', 's2', 's3']);
    });

    it('releases the pooled buffers of a paced frame when the connection drops before it was written', async () => {
      // Prepare: the peer never reads, so the slices stay queued
      const srv = await server();
      const { comm } = await connect(srv.address, { token: TOKEN, hello: { role: 'client' } });
      comms.push(comm);
      await waitFor(() => srv.accepted.length === 1);
      (srv.accepted[0] as unknown as { socket: import('node:net').Socket }).socket.pause();
      const body = receivePool.acquire(64 * WRITE_SLICE);
      const idleBefore = receivePool.idleBytes;

      // Act: queue it, let its owner go, then drop the connection
      comm.send({ op: 'big' }, [body]);
      comm.flush();
      const queued = comm.bufferedBytes;
      receivePool.release(body);
      const idleWhileQueued = receivePool.idleBytes;
      comm.destroy();

      // Assess: pinned while queued (not reusable under the pending write), back in the pool once the comm is gone
      expect(queued).toBeGreaterThan(32 * WRITE_SLICE);
      expect(idleWhileQueued).toBe(idleBefore);
      await waitFor(() => receivePool.idleBytes >= idleBefore + body.byteLength, { what: 'the body back in the pool' });
    });

    it('closes within the grace period when the peer stops reading in the middle of a paced frame', async () => {
      // Prepare
      const srv = await server();
      const { comm } = await connect(srv.address, { token: TOKEN, hello: { role: 'client' } });
      comms.push(comm);
      await waitFor(() => srv.accepted.length === 1);
      (srv.accepted[0] as unknown as { socket: import('node:net').Socket }).socket.pause();
      comm.send({ op: 'big' }, [Buffer.alloc(64 * WRITE_SLICE)]);
      comm.flush();

      // Act
      const t0 = performance.now();
      await comm.close();

      // Assess: dropped after the grace period, not waiting for a reader that never comes
      expect(performance.now() - t0).toBeLessThan(CLOSE_GRACE_MS + 5000);
      expect(comm.isClosed).toBe(true);
      expect(comm.bufferedBytes).toBe(0);
    });

    it('decodes a header received into pooled memory from a private copy, and leaves the attachments in the pool', async () => {
      // Prepare: a frame large enough for pooled memory whose header is mostly strings (as a big update-graph is)
      const srv = await server();
      const { comm } = await connect(srv.address, { token: TOKEN, hello: { role: 'client' } });
      comms.push(comm);
      const keys = Array.from({ length: 20_000 }, (_, i) => `lambda-${i.toString(16).padStart(32, '0')}-é`);
      const big = Buffer.alloc(2 * WRITE_SLICE, 7);

      // Act
      comm.send({ op: 'keys', k: keys, small: Buffer.from('inline bytes') });
      comm.send({ op: 'big' }, [big]);
      await waitFor(() => srv.received.length === 2, { what: 'both messages' });

      // Assess: strings and inline bytes intact and not viewing shared memory; the attachment still a pooled view
      const got = srv.received[0]!.msg as unknown as { k: string[]; small: Buffer };
      expect(got.k).toEqual(keys);
      expect(Buffer.from(got.small).toString()).toBe('inline bytes');
      expect(got.small.buffer instanceof SharedArrayBuffer).toBe(false);
      const att = srv.received[1]!.bufs![0]!;
      expect(att.buffer instanceof SharedArrayBuffer).toBe(true);
      expect(att.equals(big)).toBe(true);
    });

    it('delivers an Arrow table value aligned, so it decodes as views of the received memory (no copy)', async () => {
      // Prepare: odd-sized neighbours and an odd-length header, so nothing lines up by chance
      const srv = await server();
      const { comm } = await connect(srv.address, { token: TOKEN, hello: { role: 'client' } });
      comms.push(comm);
      const x = Float64Array.from({ length: 1 << 18 }, (_, i) => i * 0.5);
      const value = encodeValue(new arrow.Table({ x: arrow.makeVector(x) }));

      // Act
      comm.send({ op: 'data', key: 'k-odd-name-xyz' }, [Buffer.alloc(13, 1), value, Buffer.alloc(3, 2)]);
      await waitFor(() => srv.received.length === 1, { what: 'the table' });

      // Assess
      const got = srv.received[0]!.bufs![1]!;
      expect(got.byteOffset % 8).toBe(0);
      const table = decodeValue(got) as arrow.Table;
      const column = table.getChild('x')!.data[0]!.values as Float64Array;
      expect(column.buffer).toBe(got.buffer); // a view of the receive buffer, not a realigned copy
      expect(Array.from(column.subarray(0, 3))).toEqual([0, 0.5, 1]);
      expect(column[x.length - 1]).toBe((x.length - 1) * 0.5);
    });

    it('applies backpressure: needsDrain while the peer does not read, drained() once it does, nothing lost', async () => {
      // Prepare: the server side stops reading
      const srv = await server();
      const { comm } = await connect(srv.address, { token: TOKEN, hello: { role: 'client' } });
      comms.push(comm);
      await waitFor(() => srv.accepted.length === 1);
      const socket = (srv.accepted[0] as unknown as { socket: import('node:net').Socket }).socket;
      socket.pause();
      const chunk = Buffer.alloc(1024 * 1024, 1);

      // Act
      for (let i = 0; i < 64; i++) comm.send({ op: 'blob', i }, [chunk]);
      comm.flush();
      const congested = comm.needsDrain;
      let drained = false;
      const wait = comm.drained().then(() => (drained = true));
      await new Promise((r) => setTimeout(r, 50));
      const drainedWhilePaused = drained;
      socket.resume();
      await wait;

      // Assess
      expect(congested).toBe(true);
      expect(drainedWhilePaused).toBe(false);
      await waitFor(() => srv.received.length === 64, { what: 'all 64 blobs' });
      expect(srv.received.map((r) => r.msg.i)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    });
  });

  describe('Handshake', () => {
    it('accepts messages over the hello limit that arrive in the same read as the handshake reply', async () => {
      // Prepare: a listener that answers the hello with its welcome and, in the same write, a 100 KiB message
      // packed as a Comm packs its batches (the scheduler sends a new worker the task modules it will need right
      // behind the welcome).
      const { createServer } = await import('node:net');
      const raw = createServer((s) => {
        s.once('data', () => s.write(Buffer.concat([encodeFrame(pack({ ok: true, workerId: 'w' })), encodeFrame(newPackr().pack([{ op: 'module', code: 'x'.repeat(100_000) }]))])));
        s.on('error', () => {});
      });
      await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
      try {
        // Act
        const { comm, welcome } = await connect(`tcp://127.0.0.1:${(raw.address() as { port: number }).port}`, { token: TOKEN, hello: { role: 'worker' } });
        comms.push(comm);
        const got: Message[] = [];
        comm.onMessage((m) => got.push(m));

        // Assess
        expect(welcome).toEqual({ workerId: 'w' });
        await waitFor(() => got.length === 1, { what: 'the message behind the welcome' });
        expect(got[0]).toEqual({ op: 'module', code: 'x'.repeat(100_000) });
        expect(comm.isClosed).toBe(false);
      } finally {
        for (const c of comms.splice(0)) c.destroy();
        await new Promise<void>((resolve) => raw.close(() => resolve()));
      }
    });

    it('rejects a wrong token with AuthenticationError and never delivers its messages', async () => {
      const srv = await server();
      await expect(connect(srv.address, { token: 'wrong', hello: { role: 'client' } })).rejects.toBeInstanceOf(AuthenticationError);
      expect(srv.accepted).toHaveLength(0);
    });

    it('drops garbage, oversized hellos and frames sent before authenticating, and keeps serving others', async () => {
      // Prepare
      const warnings: Array<Record<string, unknown>> = [];
      const logger: Logger = { ...silentLogger, warn: (_m, f) => warnings.push(f ?? {}), child: () => logger };
      const srv = await server(logger);
      const raw = (bytes: Buffer) =>
        new Promise<void>((resolve) => {
          const s = netConnect({ host: '127.0.0.1', port: srv.port });
          s.on('error', () => {});
          s.on('close', () => resolve());
          s.write(bytes);
        });

      // Act
      await raw(Buffer.from('\x16\x03\x01 definitely not a frame'));
      await raw(encodePrefix(1024 * 1024, []));
      await raw(encodeFrame(pack({ op: 'update-graph', tasks: [] })));
      const { comm } = await connect(srv.address, { token: TOKEN, hello: { role: 'worker' } });
      comms.push(comm);
      comm.send({ op: 'still-works' });

      // Assess
      await waitFor(() => srv.received.length === 1);
      expect(srv.received[0]!.msg.op).toBe('still-works');
      expect(srv.accepted).toHaveLength(1);
      // Refusals are counted into one summary line per interval (written at the latest when the listener closes), not one line each.
      expect(warnings).toEqual([]);
      await listener!.close();
      expect(warnings).toEqual([expect.objectContaining({ event: 'comm.admission', listener: srv.address, closedMalformed: 3 })]);
      expect(JSON.stringify(warnings)).not.toContain(TOKEN);
    });

    it('reads accepted connections with onread (no data listener), and drops a peer whose bytes stop being frames', async () => {
      const srv = await server();
      const { comm } = await connect(srv.address, { token: TOKEN, hello: { role: 'client' } });
      comms.push(comm);
      comm.send({ op: 'first' });
      await waitFor(() => srv.received.length === 1, { what: 'the first message' });
      const accepted = srv.accepted[0]!;
      const serverSocket = (accepted as unknown as { socket: import('node:net').Socket }).socket;
      expect(serverSocket.listenerCount('data')).toBe(0);
      let reason: Error | undefined;
      accepted.onClose((err) => (reason = err));
      // A length prefix of 3: shorter than any frame body, so the decoder refuses the stream.
      (comm as unknown as { socket: import('node:net').Socket }).socket.write(Buffer.from([0, 0, 0, 3, 1, 2, 3]));
      await waitFor(() => reason, { what: 'the server to drop the peer' });
      expect(reason?.name).toBe('MalformedFrameError');
      expect(reason?.message).toMatch(/too short/);
      expect(srv.received.map((r) => r.msg.op)).toEqual(['first']);
    });

    it('drops an authenticated peer that sends a malformed frame, reporting why', async () => {
      const srv = await server();
      const { comm } = await connect(srv.address, { token: TOKEN, hello: { role: 'client' } });
      comms.push(comm);
      await waitFor(() => srv.accepted.length === 1);
      let reason: Error | undefined;
      srv.accepted[0]!.onClose((err) => (reason = err));
      (comm as unknown as { socket: import('node:net').Socket }).socket.write(encodeFrame(Buffer.from([0xc1])));
      await waitFor(() => reason, { what: 'the server to drop the peer' });
      expect(reason?.name).toBe('MalformedFrameError');
    });
  });
});
