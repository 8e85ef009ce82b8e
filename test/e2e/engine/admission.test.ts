import { readFileSync, readdirSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import { MAX_PENDING_HANDSHAKES } from '../../../comm/admission.ts';
import { DASHBOARD_MAX_CONNECTIONS } from '../../../scheduler/dashboard.ts';
import { waitForExit } from '../../support/engine.ts';
import { isAlive, waitFor } from '../../support/wait.ts';

/**
 * Issue 18 #6: connections that never authenticate must not exhaust a
 * listener's file descriptors. Real scheduler and worker processes, real
 * sockets over loopback; descriptors are counted in /proc/<pid>/fd.
 */

const FLOOD = 5_000;
/** Descriptors a listener may hold above its idle baseline during a flood: the pending cap plus slack for a client, peers and logs. */
const FD_MARGIN = 64;

const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));

interface Flood {
  sockets: Socket[];
  /** Connections whose TCP handshake completed (the listener accepted them, or the kernel queued them). */
  connected: () => number;
  /** Connections that ended (refused, closed by the listener, or failed). */
  ended: () => number;
  stop(): void;
}

/** Open `n` connections that send nothing (or `payload`, once) and stay open until the listener closes them. */
function flood(port: number, n: number, payload?: (i: number) => Buffer): Flood {
  const sockets: Socket[] = [];
  let connected = 0;
  let ended = 0;
  for (let i = 0; i < n; i++) {
    const s = netConnect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    s.once('connect', () => {
      connected++;
      if (payload) s.write(payload(i));
    });
    s.once('close', () => ended++);
    s.resume();
    sockets.push(s);
  }
  return { sockets, connected: () => connected, ended: () => ended, stop: () => sockets.forEach((s) => s.destroy()) };
}

/** Sample a process's descriptor count until `until` resolves; returns the highest count seen. */
async function peakFdsWhile<T>(pid: number, until: Promise<T>): Promise<{ peak: number; value: T }> {
  let peak = openFds(pid);
  let done = false;
  const sampler = (async () => {
    while (!done) {
      peak = Math.max(peak, openFds(pid));
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    const value = await until;
    return { peak, value };
  } finally {
    done = true;
    await sampler;
  }
}

function lineCounter() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not one of ours
        }
      }
      cb();
    },
  });
  return { lines, stream };
}

const square = (x: number) => x * x;

describe('Unauthenticated connections (issue 18 #6)', () => {
  it('holds descriptors bounded under 5,000 idle connections to the scheduler, and a real client still runs a job', async () => {
    // Prepare
    const logs = lineCounter();
    const cluster = await LocalCluster.start({ nWorkers: 1, logStream: logs.stream });
    const pids = cluster.pids;
    const schedulerPid = pids[0] as number;
    try {
      await using warmup = await Client.connect(cluster);
      expect(await warmup.submit(square, 3).result()).toBe(9);
      const baseline = openFds(schedulerPid);

      // Act: 5,000 idle sockets at once, then a real client while they are held
      const attack = flood(portOf(cluster.schedulerAddress), FLOOD);
      try {
        const { peak, value } = await peakFdsWhile(
          schedulerPid,
          (async () => {
            await waitFor(() => attack.connected() + attack.ended() >= FLOOD, { timeoutMs: 90_000, what: 'every flood connection to connect or end' });
            const started = Date.now();
            await using client = await Client.connect(cluster);
            const results = await client.gather(client.map(square, [1, 2, 3, 4]));
            return { results, elapsedMs: Date.now() - started };
          })(),
        );

        // Assess
        expect(value.results).toEqual([1, 4, 9, 16]);
        expect(value.elapsedMs).toBeLessThan(30_000);
        expect(peak - baseline).toBeLessThanOrEqual(MAX_PENDING_HANDSHAKES + FD_MARGIN);
        expect(isAlive(schedulerPid)).toBe(true);
        // Silent sockets are closed after SILENT_TIMEOUT_MS, not held for the whole handshake deadline.
        const settled = await waitFor(() => (openFds(schedulerPid) <= baseline + 8 ? openFds(schedulerPid) : undefined), { timeoutMs: 15_000, what: 'descriptors back to the baseline while the flood sockets stay open on our side' });
        console.info(`scheduler fds: baseline ${baseline}, peak ${peak} during ${FLOOD} idle connections, ${settled} after; client connected and ran 4 tasks in ${value.elapsedMs} ms`);
      } finally {
        attack.stop();
      }
      // Refusals are summarised (one line per interval with counts), never logged one by one.
      const summary = await waitFor(() => logs.lines.find((l) => l.event === 'comm.admission' && Number(l.refusedPendingCap ?? 0) + Number(l.refusedRate ?? 0) > 0), {
        timeoutMs: 30_000,
        what: 'an admission summary line',
      });
      expect(summary).toMatchObject({ level: 'warn', listener: expect.stringMatching(/^tcp:\/\//) });
      expect(logs.lines.filter((l) => l.event === 'comm.refused').length).toBeLessThan(50);
    } finally {
      await cluster.close();
      await waitForExit(pids);
    }
  });

  it('holds descriptors bounded under 5,000 idle connections to a worker listener; the worker keeps serving', async () => {
    const cluster = await LocalCluster.start({ nWorkers: 1 });
    const pids = cluster.pids;
    const workerPid = pids[1] as number;
    try {
      await using client = await Client.connect(cluster);
      const [worker] = (await client.schedulerInfo()).workers;
      // Warm up first: the worker's task threads and its first peer connections hold descriptors of their own, not the flood's.
      expect(await client.submit((n: number) => new Uint8Array(n).fill(1), 200_000).result()).toHaveLength(200_000);
      const baseline = openFds(workerPid);

      const attack = flood(portOf(worker!.address), FLOOD);
      try {
        const { peak, value } = await peakFdsWhile(
          workerPid,
          (async () => {
            await waitFor(() => attack.connected() + attack.ended() >= FLOOD, { timeoutMs: 90_000, what: 'every flood connection to connect or end' });
            // A large result is fetched from the worker's listener by the client, through the flood.
            const big = await client.submit((n: number) => new Uint8Array(n).fill(7), 200_000).result();
            return big;
          })(),
        );
        expect([value.length, value[0], value[199_999]]).toEqual([200_000, 7, 7]);
        expect(peak - baseline).toBeLessThanOrEqual(MAX_PENDING_HANDSHAKES + FD_MARGIN);
        console.info(`worker fds: baseline ${baseline}, peak ${peak} during ${FLOOD} idle connections`);
      } finally {
        attack.stop();
      }
    } finally {
      await cluster.close();
      await waitForExit(pids);
    }
  });

  it('bounds idle connections to a TLS scheduler too (they never start TLS), and a TLS client still runs a job', async () => {
    const cluster = await LocalCluster.start({ nWorkers: 1, tls: true });
    const pids = cluster.pids;
    const schedulerPid = pids[0] as number;
    try {
      const baseline = openFds(schedulerPid);
      const attack = flood(portOf(cluster.schedulerAddress), 2_000);
      try {
        const { peak, value } = await peakFdsWhile(
          schedulerPid,
          (async () => {
            await waitFor(() => attack.connected() + attack.ended() >= 2_000, { timeoutMs: 90_000, what: 'every flood connection to connect or end' });
            await using client = await Client.connect(cluster);
            return await client.submit(square, 12).result();
          })(),
        );
        expect(value).toBe(144);
        expect(peak - baseline).toBeLessThanOrEqual(MAX_PENDING_HANDSHAKES + FD_MARGIN);
      } finally {
        attack.stop();
      }
    } finally {
      await cluster.close();
      await waitForExit(pids);
    }
  });

  it('bounds idle connections to the scheduler dashboard (same process, same descriptors), and it answers again soon after', async () => {
    const cluster = await LocalCluster.start({ nWorkers: 1, dashboard: true });
    const pids = cluster.pids;
    const schedulerPid = pids[0] as number;
    try {
      const baseline = openFds(schedulerPid);
      const attack = flood(portOf(cluster.dashboardUrl as string), 2_000);
      try {
        const { peak } = await peakFdsWhile(
          schedulerPid,
          waitFor(() => attack.connected() + attack.ended() >= 2_000, { timeoutMs: 90_000, what: 'every flood connection to connect or end' }),
        );
        expect(peak - baseline).toBeLessThanOrEqual(DASHBOARD_MAX_CONNECTIONS + FD_MARGIN);
        // Idle sockets are closed by the header deadline; the dashboard then answers while the flood sockets stay open on our side.
        const health = await waitFor(async () => (await fetch(`${cluster.dashboardUrl}/health`, { signal: AbortSignal.timeout(2_000) })).status, { timeoutMs: 30_000, what: 'the dashboard to answer' });
        expect(health).toBe(200);
      } finally {
        attack.stop();
      }
      await using client = await Client.connect(cluster);
      expect(await client.submit(square, 4).result()).toBe(16);
    } finally {
      await cluster.close();
      await waitForExit(pids);
    }
  });

  it('admits a burst of 300 real clients connecting at once (the cap does not turn a crowd against itself)', async () => {
    const cluster = await LocalCluster.start({ nWorkers: 1 });
    const pids = cluster.pids;
    try {
      const clients = await Promise.all(Array.from({ length: 300 }, () => Client.connect(cluster)));
      try {
        const results = await Promise.all(clients.slice(0, 10).map((c, i) => c.submit(square, i).result()));
        expect(results).toEqual(Array.from({ length: 10 }, (_, i) => i * i));
        expect(new Set(clients.map((c) => c.id)).size).toBe(300);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    } finally {
      await cluster.close();
      await waitForExit(pids);
    }
  });

  it('drops garbage before authentication without large allocations, and keeps serving', async () => {
    const cluster = await LocalCluster.start({ nWorkers: 1 });
    const pids = cluster.pids;
    const schedulerPid = pids[0] as number;
    try {
      const port = portOf(cluster.schedulerAddress);
      const garbage = [
        Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
        // A length prefix announcing a 4 GiB frame: must be refused, not allocated.
        Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
        // A frame just under the hello cap that is not msgpack.
        Buffer.concat([Buffer.from([0, 0, 0xf0, 0]), Buffer.alloc(0xf000, 0xc1)]),
        Buffer.alloc(256 * 1024, 0x41),
      ];
      const attack = flood(port, 400, (i) => garbage[i % garbage.length] as Buffer);
      try {
        const { peak } = await peakFdsWhile(
          schedulerPid,
          waitFor(() => attack.ended() >= 400, { timeoutMs: 60_000, what: 'the listener to drop every garbage connection' }),
        );
        expect(peak).toBeLessThan(MAX_PENDING_HANDSHAKES + 200);
      } finally {
        attack.stop();
      }
      const status = readFileSafe(`/proc/${schedulerPid}/status`);
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      expect(rssKb).toBeLessThan(400 * 1024);
      await using client = await Client.connect(cluster);
      expect(await client.submit(square, 5).result()).toBe(25);
    } finally {
      await cluster.close();
      await waitForExit(pids);
    }
  });
});

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
