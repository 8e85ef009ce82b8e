import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Comm } from '../../../comm/comm.ts';
import { connect } from '../../../comm/handshake.ts';
import { SchedulerServer } from '../../../scheduler/server.ts';
import { silentLogger, type Logger } from '../../../shared/core/logger.ts';
import { waitFor } from '../../support/wait.ts';

const TOKEN = 'server-test-token';
let server: SchedulerServer;
const comms: Comm[] = [];
let logged: Array<Record<string, unknown>>;

beforeEach(async () => {
  logged = [];
  const logger: Logger = { ...silentLogger, warn: (_m, f) => logged.push(f ?? {}), info: (_m, f) => logged.push(f ?? {}), child: () => logger };
  server = new SchedulerServer({ host: '127.0.0.1', port: 0, token: TOKEN, logger, dashboardPort: 0 });
  await server.start();
});

afterEach(async () => {
  for (const c of comms.splice(0)) c.destroy();
  await server.close();
});

async function client(): Promise<Comm> {
  const { comm } = await connect(server.address, { token: TOKEN, hello: { role: 'client' } });
  comms.push(comm);
  return comm;
}

describe('Class: SchedulerServer', () => {
  it('answers every malformed client message with a ProtocolError naming the field, stays up and keeps serving', async () => {
    // Prepare: one well-behaved client that keeps a task waiting (no workers yet)
    const good = await client();
    const replies: unknown[] = [];
    good.onMessage((m) => replies.push(m));
    const bytes = new Uint8Array([0x91, 0x01]);
    good.send({ op: 'update-graph', tasks: [{ key: 'k1', fn: 'f1', args: bytes, deps: [], resources: null, retries: 0 }], wants: ['k1'], fns: [['f1', { kind: 'inline', name: 'f', source: '(x) => x' }]] });
    await waitFor(() => server.status().tasksQueued === 1, { what: 'the task to be queued' });

    // Act: many malformed messages, all on one connection
    const junk = fc.sample(
      fc.oneof(
        fc.record({ op: fc.constant('update-graph'), tasks: fc.anything().filter((t) => !Array.isArray(t)), wants: fc.constant([]), fns: fc.constant([]) }),
        fc.record({ op: fc.constant('update-graph'), tasks: fc.array(fc.array(fc.anything(), { maxLength: 7 }), { minLength: 1, maxLength: 3 }), wants: fc.anything(), fns: fc.constant([]) }),
        fc.record({ op: fc.constant('update-graph'), tasks: fc.constant([]), wants: fc.constant([]), fns: fc.array(fc.anything(), { minLength: 1 }) }),
        fc.record({ op: fc.constantFrom('release-keys', 'cancel', 'who-has', 'task-states'), id: fc.nat(), keys: fc.anything().filter((k) => !Array.isArray(k)) }),
        fc.record({ op: fc.string().filter((o) => !['update-graph', 'upload-module', 'register-plugin', 'release-keys', 'cancel', 'who-has', 'info', 'task-states', 'story', 'error'].includes(o)) }),
      ),
      { numRuns: 40, seed: 42 },
    );
    const bad = await client();
    const answers: Array<{ op: string; id?: number; error?: { type: string; op: string; path: string; message: string } }> = [];
    bad.onMessage((m) => answers.push(m as (typeof answers)[number]));
    for (const msg of junk) bad.send(msg as { op: string });

    // Assess: one error answer per message, naming the op and a field path; the connection and the scheduler stay up
    await waitFor(() => answers.length >= junk.length || undefined, { what: 'an answer to every malformed message' });
    expect(answers).toHaveLength(junk.length);
    for (const [i, a] of answers.entries()) {
      expect(a.error, JSON.stringify(junk[i]).slice(0, 120)).toMatchObject({ type: 'ProtocolError', op: junk[i]!.op });
      expect(a.error!.path).not.toBe('');
    }
    expect(bad.isClosed).toBe(false);
    expect(logged.filter((f) => f.event === 'scheduler.protocol-error')).toHaveLength(junk.length);
    good.send({ op: 'task-states', id: 7, keys: ['k1'] });
    await waitFor(() => replies.find((r) => (r as { id?: number }).id === 7), { what: 'a reply to the good client' });
    expect(replies.find((r) => (r as { id?: number }).id === 7)).toMatchObject({ op: 'reply', states: ['queued'] });
    expect(server.status().clientsConnected).toBe(2);
    const res = await fetch(`${server.dashboardUrl}/health`);
    expect(res.status).toBe(200);
  });

  it('refuses a peer of another protocol version at the handshake, naming both versions', async () => {
    await expect(connect(server.address, { token: TOKEN, hello: { role: 'client', protocol: 1 } })).rejects.toThrow(
      /refused the connection: bad "hello" message: protocol: protocol version the number 1 is not supported; this peer speaks version \d+/,
    );
    await expect(connect(server.address, { token: TOKEN, hello: { role: 'worker', nthreads: 0, address: 'tcp://127.0.0.1:9' } })).rejects.toThrow(/nthreads: expected at least 1 thread/);
    expect(server.status().clientsConnected).toBe(0);
    expect(server.status().workers).toBe(0);
  });

  it('reports status (to holders of the token, without the token) and counts activity; /health stays open', async () => {
    const c = await client();
    c.send({ op: 'update-graph', tasks: [], wants: [], fns: [] });
    await waitFor(() => server.status().lastActivityAt !== null);
    // Issue 17 #9: the status API needs the cluster token like the live dashboard; probes use /health.
    expect((await fetch(`${server.dashboardUrl}/api/status`)).status).toBe(401);
    expect((await fetch(`${server.dashboardUrl}/api/story/x`)).status).toBe(401);
    expect((await fetch(`${server.dashboardUrl}/api/status?token=${TOKEN}`)).status).toBe(401);
    expect((await fetch(`${server.dashboardUrl}/api/status`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${server.dashboardUrl}/health`)).status).toBe(200);
    expect((await fetch(`${server.dashboardUrl}/api/story/x`, { headers: { 'x-recc-token': TOKEN } })).status).toBe(200);
    const res = await fetch(`${server.dashboardUrl}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const body = await res.text();
    expect(JSON.parse(body)).toMatchObject({ workers: 0, workerNames: [], tasksProcessing: 0, tasksQueued: 0, clientsConnected: 1 });
    expect(body).not.toContain(TOKEN);
    expect((await fetch(`${server.dashboardUrl}/nope`)).status).toBe(404);
  });
});
