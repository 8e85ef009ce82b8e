import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../shared/core/logger.ts';
import { IllegalWorkerStateError, WorkerOptionsError } from '../../../worker/errors.ts';
import { compileWorkerOptions, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_HEARTBEAT_MS, DEFAULT_INLINE_RESULT_BYTES, DEFAULT_MEMORY_SAMPLE_MS } from '../../../worker/options.ts';
import { DEFAULT_THRESHOLDS } from '../../../worker/store.ts';
import { Worker } from '../../../worker/worker.ts';

const logger = createLogger({ write: () => {} });
const base = { schedulerAddress: 'tcp://127.0.0.1:1', token: 't', name: 'w', logger };

describe('Function: compileWorkerOptions', () => {
  it('fills every default once, with units in the names', () => {
    const o = compileWorkerOptions(base);
    expect(o).toMatchObject({
      nthreads: 1,
      memoryLimitBytes: undefined,
      thresholds: DEFAULT_THRESHOLDS,
      host: '127.0.0.1',
      contactHost: '127.0.0.1',
      connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
      heartbeatMs: DEFAULT_HEARTBEAT_MS,
      memorySampleMs: DEFAULT_MEMORY_SAMPLE_MS,
      inlineResultBytes: DEFAULT_INLINE_RESULT_BYTES,
      maxExecuting: 65,
    });
    expect(Object.isFrozen(o)).toBe(true);
  });

  it('leaves the contact host to the scheduler when listening on all interfaces', () => {
    expect(compileWorkerOptions({ ...base, host: '0.0.0.0' }).contactHost).toBeUndefined();
    expect(compileWorkerOptions({ ...base, host: '0.0.0.0', contactHost: '10.0.0.5' }).contactHost).toBe('10.0.0.5');
  });

  it('takes the shuffle buffer from the option, else RECC_SHUFFLE_BUFFER_BYTES, and names a bad value', () => {
    const saved = process.env.RECC_SHUFFLE_BUFFER_BYTES;
    try {
      delete process.env.RECC_SHUFFLE_BUFFER_BYTES;
      expect(compileWorkerOptions(base).shuffleBufferBytes).toBeUndefined();
      process.env.RECC_SHUFFLE_BUFFER_BYTES = '16777216';
      expect(compileWorkerOptions(base).shuffleBufferBytes).toBe(16_777_216);
      expect(compileWorkerOptions({ ...base, shuffleBufferBytes: 1024 }).shuffleBufferBytes).toBe(1024);
      process.env.RECC_SHUFFLE_BUFFER_BYTES = '16MiB';
      expect(() => compileWorkerOptions(base)).toThrow(WorkerOptionsError);
      try {
        compileWorkerOptions(base);
      } catch (err) {
        expect((err as WorkerOptionsError).details).toEqual([{ path: 'RECC_SHUFFLE_BUFFER_BYTES', message: 'expected a whole number of bytes (1 or more), got "16MiB"' }]);
      }
    } finally {
      if (saved === undefined) delete process.env.RECC_SHUFFLE_BUFFER_BYTES;
      else process.env.RECC_SHUFFLE_BUFFER_BYTES = saved;
    }
  });

  it('merges partial thresholds over the defaults', () => {
    expect(compileWorkerOptions({ ...base, thresholds: { pause: 0.5 } }).thresholds).toEqual({ ...DEFAULT_THRESHOLDS, pause: 0.5 });
  });

  it('throws WorkerOptionsError naming every bad field', () => {
    let error: unknown;
    try {
      compileWorkerOptions({ ...base, token: '', nthreads: 0, memoryLimitBytes: -1, heartbeatMs: Number.NaN, thresholds: { pause: 1.5, bogus: 0.1 } as never, resources: { GPU: -1 } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WorkerOptionsError);
    expect((error as WorkerOptionsError).details.map((d) => d.path).sort()).toEqual(
      ['heartbeatMs', 'memoryLimitBytes', 'nthreads', 'resources.GPU', 'thresholds.bogus', 'thresholds.pause', 'token'].sort(),
    );
  });
});

describe('Class: Worker lifecycle', () => {
  it('starts in "starting", closes idempotently (a second close awaits the first), and refuses start() once closed', async () => {
    const worker = new Worker(base);
    expect(worker.state).toBe('starting');
    const first = worker.close();
    const second = worker.close();
    expect(second).toBe(first);
    expect(worker.state).toBe('closing');
    await second;
    expect(worker.state).toBe('closed');
    await expect(worker.finished).resolves.toEqual({ reason: 'closed' });
    await expect(worker.start()).rejects.toBeInstanceOf(IllegalWorkerStateError);
  });
});
