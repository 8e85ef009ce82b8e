import { afterEach, describe, expect, it } from 'vitest';
import type { Comm, Message } from '../../../comm/comm.ts';
import { ProtocolError } from '../../../comm/errors.ts';
import { encodeFrame } from '../../../comm/framing.ts';
import { connect, listen, type Listener } from '../../../comm/handshake.ts';
import { Channel, decodeDataRequest, type DataReply, type DataRequest } from '../../../comm/protocol.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { waitFor } from '../../support/wait.ts';

const TOKEN = 'channel-test-token';
let listener: Listener | undefined;
const comms: Comm[] = [];

afterEach(async () => {
  for (const c of comms.splice(0)) c.destroy();
  await listener?.close();
  listener = undefined;
});

/** A server whose one connection is a Channel for data requests; returns what it handled and reported. */
async function pair(options: { repliesToRequests?: boolean } = {}) {
  const handled: DataRequest[] = [];
  const reported: ProtocolError[] = [];
  let serverComm: Comm | undefined;
  listener = await listen({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    logger: silentLogger,
    accept: (comm) => {
      serverComm = comm;
      const ch = new Channel<DataRequest, DataReply>(comm, decodeDataRequest, { onProtocolError: (e) => reported.push(e), ...options });
      ch.onMessage((m) => {
        handled.push(m);
        if (m.op === 'get-data') ch.send({ op: 'data', id: m.id, keys: [], missing: m.keys });
      });
      return {};
    },
  });
  const { comm } = await connect(listener.address, { token: TOKEN, hello: { role: 'peer' } });
  comms.push(comm);
  const got: Message[] = [];
  comm.onMessage((m) => got.push(m));
  return { comm, got, handled, reported, server: () => serverComm };
}

describe('Class: Channel', () => {
  it('drops a bad message, tells the peer and the reporter, and handles the next good one on the same connection', async () => {
    const { comm, got, handled, reported } = await pair();
    comm.send({ op: 'get-data', id: 1, keys: [1] });
    comm.send({ op: 'get-data', id: 2, keys: ['a'] });
    await waitFor(() => got.length >= 2 || undefined, { what: 'two answers' });
    expect(got[0]).toEqual({ op: 'error', error: { type: 'ProtocolError', op: 'get-data', path: 'keys[0]', message: 'bad "get-data" message: keys[0]: expected a string, got the number 1' } });
    expect(got[1]).toEqual({ op: 'data', id: 2, keys: [], missing: ['a'] });
    expect(handled).toEqual([{ op: 'get-data', id: 2, keys: ['a'] }]);
    expect(reported.map((e) => e.path)).toEqual(['keys[0]']);
    expect(comm.isClosed).toBe(false);
  });

  it('answers a bad request that carries an id with an error reply, when asked to', async () => {
    const { comm, got } = await pair({ repliesToRequests: true });
    comm.send({ op: 'get-data', id: 9 });
    await waitFor(() => got[0], { what: 'the error reply' });
    expect(got[0]).toMatchObject({ op: 'reply', id: 9, error: { op: 'get-data', path: 'keys' } });
  });

  it('never answers an error with an error (two confused peers must not ping-pong)', async () => {
    const { comm, got, reported } = await pair();
    comm.send({ op: 'error', error: { nonsense: true } });
    await waitFor(() => reported.length === 1 || undefined, { what: 'the report' });
    comm.send({ op: 'get-data', id: 3, keys: [] });
    await waitFor(() => got.length >= 1 || undefined, { what: 'the next answer' });
    expect(got).toEqual([{ op: 'data', id: 3, keys: [], missing: [] }]);
  });

  it('skips a message without an op, and closes after telling the peer when a frame is not msgpack', async () => {
    const { comm, got, reported } = await pair();
    comm.send(7 as unknown as Message);
    await waitFor(() => got.length >= 1 || undefined, { what: 'the answer to a message without an op' });
    expect(got[0]).toMatchObject({ op: 'error', error: { op: '?', path: 'op' } });
    expect(comm.isClosed).toBe(false);

    (comm as unknown as { socket: { write(b: Buffer): void } }).socket.write(encodeFrame(Buffer.from([0xc1])));
    await waitFor(() => comm.isClosed || undefined, { what: 'the connection to close' });
    expect(got[1]).toMatchObject({ op: 'error', error: { op: '?', message: expect.stringMatching(/the frame is not (msgpack|a list of messages)/) } });
    expect(reported.map((e) => e.op)).toEqual(['?', '?']);
  });
});
