import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STATE_DIR_LOCK_FILE, lockStateDir } from '../../../local/state-lock.ts';
import { StateDirInUseError } from '../../../local/errors.ts';
import { REPO_ROOT, tempStateDir } from '../../support/local-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * The state-dir lock under real contention: several processes try it at the
 * same instant (a shared start time, spinning until then), with and without a
 * stale lock to take over. Exactly one may hold it each time.
 */
const FIXTURE = join(REPO_ROOT, 'test/integration/local/fixtures/lock-contender.ts');
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.stdin?.end();
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  round: number;
  pid: number;
  locked: boolean;
  error?: string;
  message?: string;
}

/** `n` processes contend for the locks of `<baseDir>/r0 … r<rounds-1>`, one round after the other; outcomes by round. */
async function contend(baseDir: string, n: number, rounds: number): Promise<Outcome[][]> {
  const outputs: string[] = [];
  const exits: Promise<unknown>[] = [];
  const spawned: ChildProcess[] = [];
  for (let i = 0; i < n; i += 1) {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, baseDir, String(rounds)], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    spawned.push(child);
    outputs[i] = '';
    child.stdout?.on('data', (d: Buffer) => (outputs[i] += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (outputs[i] += d.toString()));
    exits.push(new Promise((r) => child.once('exit', r)));
  }
  const outcomeLines = (out: string) => out.split('\n').filter((l) => l.startsWith('{"round"'));
  await waitFor(() => outputs.every((o) => o.includes('"ready"')), { timeoutMs: 60_000, what: 'every contender to load' });
  const startAt = Date.now() + 300;
  for (const child of spawned) child.stdin?.write(`${startAt}\n`);
  await waitFor(() => outputs.every((o) => outcomeLines(o).length === rounds), {
    timeoutMs: 60_000,
    what: 'every contender to finish its rounds',
  });
  // Only now may the winners release their locks.
  for (const child of spawned) child.stdin?.end();
  let finished = false;
  void Promise.all(exits).then(() => (finished = true));
  await waitFor(() => finished, { timeoutMs: 30_000, what: 'every contender to exit' });
  const byRound: Outcome[][] = Array.from({ length: rounds }, () => []);
  for (const out of outputs) {
    for (const line of outcomeLines(out)) {
      const o = JSON.parse(line) as Outcome;
      byRound[o.round]?.push(o);
    }
  }
  return byRound;
}

function deadPid(): number {
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(dead.stdout);
}

describe('Function: lockStateDir', () => {
  it.each([
    ['a free state dir', 2, 12, false],
    ['a state dir with a stale lock', 2, 12, true],
    ['a free state dir', 6, 4, false],
    ['a state dir with a stale lock', 6, 4, true],
  ])('gives %s to exactly one of %i processes trying at the same instant (%i rounds)', async (_what, n, rounds, stale) => {
    // Prepare: one dir per round. As many contenders as cores is where a
    // read-then-write lock loses: both really run at the same instant.
    const base = tempStateDir('lockrace');
    dirs.push(base);
    for (let i = 0; i < rounds; i += 1) {
      mkdirSync(join(base, `r${i}`));
      if (stale) writeFileSync(join(base, `r${i}`, STATE_DIR_LOCK_FILE), `${deadPid()}\n`);
    }

    // Act
    const byRound = await contend(base, n, rounds);

    // Assess
    byRound.forEach((outcomes, round) => {
      const winners = outcomes.filter((o) => o.locked);
      expect(winners, `round ${round}: ${JSON.stringify(outcomes)}`).toHaveLength(1);
      const winner = winners[0] as Outcome;
      for (const o of outcomes.filter((x) => !x.locked)) {
        expect(o.error, JSON.stringify(o)).toBe('StateDirInUseError');
        expect(o.message).toContain(`pid ${winner.pid}`);
        expect(o.message).toContain(join(base, `r${round}`));
      }
      const dir = join(base, `r${round}`);
      expect(existsSync(join(dir, STATE_DIR_LOCK_FILE)), `round ${round}: released`).toBe(false);
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.endsWith('.takeover'))).toEqual([]);
    });
  }, 120_000);

  it('refuses while the owner lives, and is free again after release', async () => {
    const dir = tempStateDir('lockown');
    dirs.push(dir);
    const holder = spawn(process.execPath, ['-e', `require('node:fs').writeFileSync(${JSON.stringify(join(dir, STATE_DIR_LOCK_FILE))}, process.pid + '\\n'); setTimeout(() => {}, 60000)`], { stdio: 'ignore' });
    children.push(holder);
    await waitFor(() => existsSync(join(dir, STATE_DIR_LOCK_FILE)), { what: 'the holder to write its lock' });
    const err = await lockStateDir(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateDirInUseError);
    expect((err as StateDirInUseError).pid).toBe(holder.pid);
    expect((err as Error).message).toContain(dir);

    const gone = new Promise((r) => holder.once('exit', r));
    holder.kill('SIGKILL');
    await gone;
    const lock = await lockStateDir(dir);
    expect(readFileSync(lock.path, 'utf8').trim()).toBe(String(process.pid));
    lock.release();
    lock.release();
    expect(existsSync(lock.path)).toBe(false);
  });

  it('clears a takeover marker left by a process that died mid-takeover', async () => {
    const dir = tempStateDir('lockmarker');
    dirs.push(dir);
    writeFileSync(join(dir, STATE_DIR_LOCK_FILE), `${deadPid()}\n`);
    writeFileSync(join(dir, `${STATE_DIR_LOCK_FILE}.takeover`), `${deadPid()}\n`);
    const lock = await lockStateDir(dir);
    expect(readFileSync(lock.path, 'utf8').trim()).toBe(String(process.pid));
    expect(existsSync(join(dir, `${STATE_DIR_LOCK_FILE}.takeover`))).toBe(false);
    lock.release();
  });
});
