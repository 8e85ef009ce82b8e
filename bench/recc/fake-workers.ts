import type { Comm } from '../../comm/comm.ts';
import { connect } from '../../comm/handshake.ts';
import { decodeValue, encodeValue } from '../../comm/payload.ts';
import { Channel, decodeSchedulerToWorker, type SchedulerToWorker, type WorkerToScheduler } from '../../comm/protocol.ts';

/**
 * Light in-process workers that speak the real worker protocol (comm/
 * framing, token handshake, typed messages, `compute-batch` → `finished`)
 * but run nothing:
 * each task "returns" its first argument at once, with the result inline so
 * the client gets it from the scheduler. 200 of them cost little, so the
 * scheduler's own CPU per task on a wide cluster can be measured.
 */
export interface FakeWorkerPool {
  readonly size: number;
  /** Tasks answered so far. */
  completed(): number;
  close(): Promise<void>;
}

/** The no-op's result: its first argument, encoded as a real worker would. */
function result(encodedArgs: Uint8Array): Buffer {
  const args = decodeValue(encodedArgs) as unknown[];
  return encodeValue(Array.isArray(args) ? args[0] : args);
}

async function connectFake(options: { address: string; token: string; nthreads?: number }, i: number): Promise<Comm> {
  const { comm } = await connect(options.address, {
    token: options.token,
    hello: {
      role: 'worker',
      name: `fake-${i}`,
      nthreads: options.nthreads ?? 1,
      resources: {},
      memoryLimit: null,
      // Unique and never dialled: no task here has dependencies, and results travel inline.
      address: `tcp://127.0.0.1:${20_000 + i}`,
      pid: process.pid,
    },
  });
  return comm;
}

export async function startFakeWorkers(options: { address: string; token: string; count: number; nthreads?: number }): Promise<FakeWorkerPool> {
  const comms: Comm[] = [];
  let completed = 0;
  const timers: NodeJS.Timeout[] = [];
  for (let i = 0; i < options.count; i++) {
    let comm: Comm;
    try {
      comm = await connectFake(options, i);
    } catch (err) {
      // Leave nothing connected behind.
      for (const t of timers) clearInterval(t);
      await Promise.all(comms.map((c) => c.close().catch(() => undefined)));
      throw err;
    }
    const channel = new Channel<SchedulerToWorker, WorkerToScheduler>(comm, decodeSchedulerToWorker, {
      onProtocolError: (err) => process.stderr.write(`fake worker ${i}: ${err.message}\n`),
    });
    channel.onMessage((msg) => {
      if (msg.op === 'compute-batch') {
        // One reply batch per request batch, as real workers do.
        const keys = msg.k;
        const args = msg.a;
        const n: number[] = [];
        const ms: number[] = [];
        const th: number[] = [];
        const di: number[] = [];
        const bufs: Buffer[] = [];
        for (let j = 0; j < keys.length; j++) {
          const data = result(args[j] as Uint8Array);
          n.push(data.byteLength);
          ms.push(0);
          th.push(0);
          di.push(bufs.push(data) - 1);
        }
        completed += keys.length;
        channel.send({ op: 'finished', k: keys, n, ms, th, di }, bufs);
      }
    });
    comms.push(comm);
    const hb = setInterval(() => channel.send({ op: 'heartbeat', rss: 0, managed: 0, spilled: 0, executing: 0, ready: 0, paused: false, cpu: 0, cpuLimit: 1, transferBytes: 0, shuffleBytes: 0 }), 1000);
    hb.unref();
    timers.push(hb);
  }
  return {
    size: comms.length,
    completed: () => completed,
    async close() {
      for (const t of timers) clearInterval(t);
      await Promise.all(comms.map((c) => c.close().catch(() => undefined)));
    },
  };
}
