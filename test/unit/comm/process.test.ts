import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../../comm/process.ts';
import { waitFor } from '../../support/wait.ts';

describe('Function: isProcessAlive', () => {
  it('is true for a running process and false once it exited and was reaped', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid as number;
    expect(isProcessAlive(process.pid)).toBe(true);
    expect(isProcessAlive(pid)).toBe(true);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(isProcessAlive(pid)).toBe(false);
  });

  it('is false for pids that would probe a process group or every process', () => {
    for (const pid of [0, -1, -process.pid, Number.NaN, 1.5, Number.POSITIVE_INFINITY]) expect(isProcessAlive(pid)).toBe(false);
  });

  it.runIf(process.platform === 'linux')('is false for a zombie that kill(pid, 0) still finds', async () => {
    // `sleep 0` exits; its parent became `sleep 30` through exec and never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      let out = '';
      parent.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const zombie = await waitFor(() => Number(out.trim()) || undefined, { what: 'the background pid' });
      await waitFor(() => /\) Z /.test(readFileSync(`/proc/${zombie}/stat`, 'utf8')), { what: 'the child to become a zombie' });
      expect(() => process.kill(zombie, 0)).not.toThrow();
      expect(isProcessAlive(zombie)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
