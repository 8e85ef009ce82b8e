import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STATE_DIR_LOCK_FILE } from '../../../local/state-lock.ts';
import { RECC_BIN, REPO_ROOT, tempStateDir } from '../../support/local-stack.ts';
import { freePort } from '../../support/ports.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * One `recc up` per state directory (issue 20, item 6). The old lock read the
 * pid file and then wrote it, so two `recc up` started together could both
 * find it empty and both run on one dynalite directory. Real processes via
 * bin/recc.mjs.
 */
interface Up {
  child: ChildProcess;
  pid: number;
  output(): string;
  /** Resolves with the exit code once the process ended. */
  exited: Promise<number | null>;
  ended(): boolean;
}

const started: Up[] = [];
const dirs: string[] = [];

async function reccUp(stateDir: string): Promise<Up> {
  const port = await freePort();
  const child = spawn(process.execPath, [RECC_BIN, 'up', '--port', String(port), '--state-dir', stateDir, '--json'], {
    cwd: REPO_ROOT,
    env: { ...process.env, RECC_TEST_HOOKS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let done = false;
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) =>
    child.once('exit', (code) => {
      done = true;
      res(code);
    }),
  );
  const up: Up = { child, pid: child.pid as number, output: () => out, exited, ended: () => done };
  started.push(up);
  return up;
}

const isReady = (up: Up) => up.output().includes('"recc.up.ready"');

afterEach(async () => {
  // Stop everything this test started, whatever happened.
  for (const up of started.splice(0)) {
    if (!up.ended()) up.child.kill('SIGTERM');
    const code = await Promise.race([up.exited, new Promise((r) => setTimeout(r, 15_000, 'timeout'))]);
    if (code === 'timeout') {
      up.child.kill('SIGKILL');
      await up.exited;
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('Feature: one recc up per state directory', () => {
  it('runs exactly one of two recc up started at once on one state dir; the other exits non-zero naming the pid and the dir', async () => {
    // Prepare
    const dir = tempStateDir('lock');
    dirs.push(dir);

    // Act: both start together.
    const [a, b] = await Promise.all([reccUp(dir), reccUp(dir)]);
    const loser = await waitFor(() => (a.ended() ? a : b.ended() ? b : undefined), { timeoutMs: 60_000, what: 'one recc up to give up' });
    const winner = loser === a ? b : a;
    await waitFor(() => isReady(winner) || winner.ended(), { timeoutMs: 60_000, what: 'the other recc up to be ready' });

    // Assess
    const code = await loser.exited;
    expect(code, loser.output()).not.toBe(0);
    expect(isReady(loser), loser.output()).toBe(false);
    expect(loser.output()).toContain(`another recc up (pid ${winner.pid}) is already using the state directory ${dir}`);
    expect(loser.output()).not.toMatch(/\n\s+at /);
    expect(winner.ended(), winner.output()).toBe(false);
    expect(isReady(winner), winner.output()).toBe(true);
    expect(readFileSync(join(dir, STATE_DIR_LOCK_FILE), 'utf8').trim()).toBe(String(winner.pid));

    // The lock goes with the winner, and then the dir is free again.
    winner.child.kill('SIGTERM');
    await winner.exited;
    expect(existsSync(join(dir, STATE_DIR_LOCK_FILE))).toBe(false);
  }, 120_000);

  it('takes over a stale lock left by a dead recc up', async () => {
    // Prepare: a lock naming a pid that has exited (as after a kill -9).
    const dir = tempStateDir('stale');
    dirs.push(dir);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    expect(deadPid).toBeGreaterThan(0);
    writeFileSync(join(dir, STATE_DIR_LOCK_FILE), `${deadPid}\n`);

    // Act
    const up = await reccUp(dir);
    await waitFor(() => isReady(up) || up.ended(), { timeoutMs: 60_000, what: 'recc up to be ready' });

    // Assess
    expect(isReady(up), up.output()).toBe(true);
    expect(readFileSync(join(dir, STATE_DIR_LOCK_FILE), 'utf8').trim()).toBe(String(up.pid));
    expect(existsSync(join(dir, `${STATE_DIR_LOCK_FILE}.takeover`))).toBe(false);
  }, 120_000);
});
