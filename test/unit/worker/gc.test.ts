import { runInNewContext } from 'node:vm';
import { Worker as Thread } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { acquireGc } from '../../../worker/gc.ts';

/** Whether this process was started with --expose-gc (then the flag is legitimately on). */
const startedWithGc = typeof (globalThis as { gc?: unknown }).gc === 'function';

describe('Function: acquireGc', () => {
  it('returns a working full collection', () => {
    const gc = acquireGc();
    expect(typeof gc).toBe('function');
    expect(() => gc!()).not.toThrow();
  });

  // A left-over --expose-gc changes V8's flag hash, so every later isolate
  // (task thread) starts without the snapshot's code cache (issue 20).
  it.skipIf(startedWithGc)('leaves --expose-gc off: new contexts and threads get no gc global', async () => {
    acquireGc();
    expect(runInNewContext('typeof gc')).toBe('undefined');
    const thread = new Thread("require('node:worker_threads').parentPort.postMessage(typeof gc)", { eval: true });
    try {
      const seen = await new Promise<unknown>((resolve, reject) => {
        thread.once('message', resolve);
        thread.once('error', reject);
      });
      expect(seen).toBe('undefined');
    } finally {
      await thread.terminate();
    }
  });
});
