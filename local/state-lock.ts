import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isProcessAlive } from '../comm/process.ts';
import { CONFLICT_BACKOFF, backoffDelay, sleep } from '../shared/core/retry.ts';
import { LocalStackStartError, StateDirInUseError } from './errors.ts';

/**
 * One `recc up` per state directory, decided atomically by the file system.
 *
 * The lock is `<stateDir>/recc-up.pid` holding the owner's pid. It is created
 * with `link(2)` from a private temp file that already holds the pid: `link`
 * fails with EEXIST when the lock exists, so of two processes starting at
 * once exactly one gets it, and nobody ever sees a half-written lock.
 *
 * A lock whose pid is dead (a `recc up` killed with SIGKILL) is stale. To
 * take it over, a process must first win `<lock>.takeover` (created the same
 * way): only the winner may remove a stale lock, and only after re-reading
 * that it still names the dead pid, so two processes recovering at once can
 * never delete each other's fresh lock. The winner removes the marker when
 * done; a marker left by a process that died mid-takeover is itself stale
 * (its pid is dead) and is removed by the next one.
 */
export const STATE_DIR_LOCK_FILE = 'recc-up.pid';

export interface StateDirLock {
  readonly path: string;
  /** Remove the lock if this process still owns it. Safe to call twice. */
  release(): void;
}

/** Injectable for tests: is `pid` a live process that could be a `recc up`? */
export type AliveCheck = (pid: number) => boolean;

/** Attempts before giving up when the lock keeps changing hands under us. */
const MAX_ATTEMPTS = 20;

export async function lockStateDir(stateDir: string, options: { isAlive?: AliveCheck } = {}): Promise<StateDirLock> {
  const alive = options.isAlive ?? isReccProcessAlive;
  const path = join(stateDir, STATE_DIR_LOCK_FILE);
  const marker = `${path}.takeover`;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
    if (createHoldingPid(path)) return { path, release: () => removeIfHeldBy(path, process.pid) };
    const owner = readPid(path);
    if (owner === 'missing') continue; // released between our create and our read: try again at once
    // Ours already (a stack restarted in the same process without closing): keep it, as before.
    if (owner === process.pid) return { path, release: () => removeIfHeldBy(path, process.pid) };
    if (owner !== 'unreadable' && alive(owner)) throw new StateDirInUseError(stateDir, owner);
    // Stale (dead pid, or garbage nobody can own): take it over under the marker.
    if (createHoldingPid(marker)) {
      try {
        if (readPid(path) === owner) unlinkSync(path);
      } finally {
        removeIfHeldBy(marker, process.pid);
      }
      continue;
    }
    const taker = readPid(marker);
    if (typeof taker === 'number' && taker !== process.pid && !alive(taker)) removeIfHeldBy(marker, taker);
    // Someone else is taking over: give them a moment, then look again.
    await sleep(backoffDelay(attempt, CONFLICT_BACKOFF));
  }
  throw new LocalStackStartError(`could not lock the state directory ${stateDir}: ${path} kept changing hands; try again`);
}

/** Create `path` holding our pid, atomically; false when it already exists. */
function createHoldingPid(path: string): boolean {
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temp, `${process.pid}\n`, { mode: 0o600 });
  try {
    linkSync(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(temp);
  }
}

function readPid(path: string): number | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : 'unreadable';
}

function removeIfHeldBy(path: string, pid: number): void {
  if (readPid(path) !== pid) return;
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * Alive, not a zombie, and (where /proc exists) a node process, so a pid the
 * kernel recycled for something else does not lock the state dir forever.
 */
export function isReccProcessAlive(pid: number): boolean {
  if (!isProcessAlive(pid)) return false;
  if (process.platform !== 'linux') return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node');
  } catch {
    return false;
  }
}
