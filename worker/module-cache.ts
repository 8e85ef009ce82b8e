import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../shared/core/logger.ts';

/**
 * Bundled task modules on disk, named by the first 32 hex digits of their
 * sha256. The directory is shared by the workers of one host: a module is
 * checked against its hash and published with an atomic rename, so a
 * concurrent reader never sees half a file.
 */
export class ModuleCache {
  private readonly known = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly logger: Logger,
  ) {}

  path(hash: string): string {
    return join(this.dir, `${hash}.mjs`);
  }

  /** Store `code` under `hash`; refuses (and logs) code that does not match its hash. Returns whether it is cached. */
  put(hash: string, code: Buffer): boolean {
    if (this.known.has(hash)) return true;
    const path = this.path(hash);
    if (!existsSync(path)) {
      const actual = createHash('sha256').update(code).digest('hex').slice(0, 32);
      if (actual !== hash) {
        this.logger.error('module content does not match its hash', { event: 'worker.module-hash', hash });
        return false;
      }
      mkdirSync(this.dir, { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, code);
      renameSync(tmp, path);
    }
    this.known.add(hash);
    return true;
  }
}
