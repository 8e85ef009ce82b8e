import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../shared/core/logger.ts';

/**
 * Bundled task modules on disk, named by the first 32 hex digits of their
 * sha256. The directory is shared by one user's workers on a host: a module is
 * checked against its hash and published with an atomic rename, so a
 * concurrent reader never sees half a file.
 *
 * The workers import (run) these files, so nobody else may write them. On a
 * research server several users share the temp directory; a file planted there
 * under a module's hash (the hash of a published module is easy to know) ran
 * as the next user whose task needed it. So the default directory is per user
 * (`recc-modules-<uid>`) and private (0700), a directory that is not
 * (another owner, writable by others, a symlink) is not used (the worker uses
 * a fresh private one of its own instead and says so), and a file already
 * there is trusted only once its content matches its name.
 */
export class ModuleCache {
  private readonly known = new Set<string>();
  private checkedDir: string | undefined;

  constructor(
    readonly dir: string,
    private readonly logger: Logger,
  ) {}

  /** The path of a module's file (in the directory actually used: see `privateDir`). */
  path(hash: string): string {
    return join(this.privateDir(), `${hash}.mjs`);
  }

  /** Store `code` under `hash`; refuses (and logs) code that does not match its hash. Returns whether it is cached. */
  put(hash: string, code: Buffer): boolean {
    if (this.known.has(hash)) return true;
    if (digest(code) !== hash) {
      this.logger.error('module content does not match its hash', { event: 'worker.module-hash', hash });
      return false;
    }
    const path = this.path(hash);
    if (!holds(path, hash)) {
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, code, { mode: 0o600 });
      renameSync(tmp, path);
    }
    this.known.add(hash);
    return true;
  }

  /** `dir`, created private if missing, when only this user can write it; else a fresh private directory. */
  private privateDir(): string {
    if (this.checkedDir !== undefined) return this.checkedDir;
    const problem = unsafeDirProblem(this.dir);
    if (problem === undefined) return (this.checkedDir = this.dir);
    const own = mkdtempSync(join(tmpdir(), 'recc-modules-'));
    this.logger.warn('module cache directory not used: other users could change the code it holds', { event: 'worker.module-dir-unsafe', dir: this.dir, problem, using: own });
    return (this.checkedDir = own);
  }
}

function digest(code: Buffer | Uint8Array): string {
  return createHash('sha256').update(code).digest('hex').slice(0, 32);
}

/** Whether `path` holds exactly the module named `hash` (a file left by an earlier worker, or planted). */
function holds(path: string, hash: string): boolean {
  try {
    return digest(readFileSync(path)) === hash;
  } catch {
    return false;
  }
}

/** Why `dir` must not hold code this process runs, or undefined when only this user can change it. */
function unsafeDirProblem(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (st.isSymbolicLink()) return 'it is a symbolic link';
    if (!st.isDirectory()) return 'it is not a directory';
    // POSIX only: Windows reports no owner and no mode bits worth checking (its temp directory is per user).
    if (process.platform === 'win32') return undefined;
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) return `it belongs to uid ${st.uid}, not ${uid}`;
    if ((st.mode & 0o022) !== 0) return `others can write it (mode ${(st.mode & 0o777).toString(8)})`;
    return undefined;
  } catch (err) {
    return `it cannot be created or read (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
}

/** The default directory: per user under the temp directory, so users of one host never share it. */
export function defaultModuleCacheDir(): string {
  const uid = process.getuid?.();
  return join(tmpdir(), `recc-modules-${uid ?? safeName(userInfo().username)}`);
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_') || 'user';
}
