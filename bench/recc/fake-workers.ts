import type { Comm, Message } from '../../comm/comm.ts';
import { connect } from '../../comm/handshake.ts';
import { decodeValue, encodeValue } from '../../comm/payload.ts';

/**
 * Light in-process workers that speak the real worker protocol (comm/
 * framing, token handshake, `compute` → `task-finished`) but run nothing:
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

export async function startFakeWorkers(options: { address: string; token: string; count: number; nthreads?: number }): Promise<FakeWorkerPool> {
  const comms: Comm[] = [];
  let completed = 0;
  const timers: NodeJS.Timeout[] = [];
  for (let i = 0; i < options.count; i++) {
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
    comm.onMessage((msg: Message) => {
      if (msg.op !== 'compute') return;
      const args = decodeValue(msg.a as Uint8Array) as unknown[];
      const data = encodeValue(Array.isArray(args) ? args[0] : args);
      completed++;
      comm.send({ op: 'task-finished', key: msg.k as string, nbytes: data.byteLength }, [data]);
    });
    comms.push(comm);
    const hb = setInterval(() => comm.send({ op: 'heartbeat', rss: 0, managed: 0, spilled: 0, executing: 0, ready: 0, paused: false }), 1000);
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
