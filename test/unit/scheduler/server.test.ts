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
  it('drops a client that sends malformed messages and keeps serving the others', async () => {
    // Prepare: one well-behaved client that keeps a task waiting (no workers yet)
    const good = await client();
    const replies: unknown[] = [];
    good.onMessage((m) => replies.push(m));
    const bytes = new Uint8Array([0x91, 0x01]);
    good.send({ op: 'update-graph', tasks: [['k1', 'f1', bytes, [], null, 0]], wants: ['k1'], fns: [['f1', { kind: 'inline', name: 'f', source: '(x) => x' }]] });
    await waitFor(() => server.status().tasksQueued === 1, { what: 'the task to be queued' });

    // Act: many malformed messages, each from a fresh authenticated client
    const junk = fc.sample(
      fc.oneof(
        fc.record({ op: fc.constant('update-graph'), tasks: fc.anything() }),
        fc.record({ op: fc.constant('update-graph'), tasks: fc.array(fc.array(fc.anything(), { maxLength: 7 }), { minLength: 1, maxLength: 3 }), wants: fc.anything() }),
        fc.record({ op: fc.constant('update-graph'), tasks: fc.constant([]), fns: fc.array(fc.anything(), { minLength: 1 }) }),
        fc.record({ op: fc.constantFrom('release-keys', 'cancel', 'who-has', 'task-states'), keys: fc.anything().filter((k) => !Array.isArray(k)) }),
        fc.record({ op: fc.string() }),
      ),
      { numRuns: 40, seed: 42 },
    );
    for (const msg of junk) {
      const bad = await client();
      let closed = false;
      bad.onClose(() => (closed = true));
      bad.send(msg as { op: string });
      await waitFor(() => closed || undefined, { timeoutMs: 10_000, what: `the scheduler to drop a client that sent ${JSON.stringify(msg).slice(0, 80)}` }).catch(() => {
        // A message that happens to be valid (e.g. an empty graph) keeps the connection; that is fine.
      });
    }

    // Assess: the scheduler still works for the good client
    good.send({ op: 'task-states', id: 7, keys: ['k1'] });
    await waitFor(() => replies.find((r) => (r as { id?: number }).id === 7), { what: 'a reply to the good client' });
    expect(replies.find((r) => (r as { id?: number }).id === 7)).toMatchObject({ op: 'reply', states: ['queued'] });
    expect(server.status().clientsConnected).toBe(1);
    const res = await fetch(`${server.dashboardUrl}/health`);
    expect(res.status).toBe(200);
  });

  it('reports status without the token and counts activity', async () => {
    const c = await client();
    c.send({ op: 'update-graph', tasks: [], wants: [], fns: [] });
    await waitFor(() => server.status().lastActivityAt !== null);
    const res = await fetch(`${server.dashboardUrl}/api/status`);
    const body = await res.text();
    expect(JSON.parse(body)).toMatchObject({ workers: 0, workerNames: [], tasksProcessing: 0, tasksQueued: 0, clientsConnected: 1 });
    expect(body).not.toContain(TOKEN);
    expect((await fetch(`${server.dashboardUrl}/nope`)).status).toBe(404);
  });
});
