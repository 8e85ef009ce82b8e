import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../../shared/core/logger.ts';
import { defaultModuleCacheDir, ModuleCache } from '../../../worker/module-cache.ts';

/**
 * Workers import the task modules in this cache, so what is in it runs as the user. On a research server
 * several users share the temp directory, and the cache used to trust any file already there under a
 * module's hash: a planted file ran as the next user whose task needed that module.
 */
const scratch = mkdtempSync(join(tmpdir(), 'recc-module-cache-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const code = Buffer.from('export default function task(x) { return x + 1; }\n');
const hash = createHash('sha256').update(code).digest('hex').slice(0, 32);

function recordingLogger(): Logger & { lines: Array<[string, string, Record<string, unknown> | undefined]> } {
  const lines: Array<[string, string, Record<string, unknown> | undefined]> = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push([level, message, fields]);
  const logger = { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

describe('Class: ModuleCache', () => {
  it('stores a module under its hash in a private directory', () => {
    // Prepare
    const dir = join(scratch, 'fresh');
    const cache = new ModuleCache(dir, recordingLogger());

    // Act
    const ok = cache.put(hash, code);

    // Assess
    expect(ok).toBe(true);
    expect(cache.path(hash)).toBe(join(dir, `${hash}.mjs`));
    expect(readFileSync(cache.path(hash))).toEqual(code);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(cache.path(hash)).mode & 0o077).toBe(0);
  });

  it('replaces a file planted under a module\'s hash instead of running it', () => {
    // Prepare: another process left other code under the name this module will use
    const dir = join(scratch, 'planted');
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, `${hash}.mjs`), 'export default function task() { return "planted"; }\n');
    const cache = new ModuleCache(dir, recordingLogger());

    // Act
    const ok = cache.put(hash, code);

    // Assess
    expect(ok).toBe(true);
    expect(readFileSync(cache.path(hash))).toEqual(code);
  });

  it('refuses code that does not match its hash, and writes nothing', () => {
    // Prepare
    const dir = join(scratch, 'mismatch');
    const logger = recordingLogger();
    const cache = new ModuleCache(dir, logger);

    // Act
    const ok = cache.put(hash, Buffer.from('export default 1;\n'));

    // Assess
    expect(ok).toBe(false);
    expect(existsSync(join(dir, `${hash}.mjs`))).toBe(false);
    expect(logger.lines.map(([level, , f]) => [level, f?.event])).toEqual([['error', 'worker.module-hash']]);
  });

  const unsafe: Array<[string, (dir: string) => void, RegExp]> = [
    ['writable by others', (dir) => { mkdirSync(dir); chmodSync(dir, 0o777); }, /others can write it \(mode 777\)/],
    ['a symbolic link', (dir) => { mkdirSync(`${dir}-target`, { mode: 0o700 }); symlinkSync(`${dir}-target`, dir); }, /symbolic link/],
    ['a file', (dir) => writeFileSync(dir, 'x'), /EEXIST|not a directory/],
  ];
  if (process.getuid?.() === 0) {
    unsafe.push(['owned by another user', (dir) => { mkdirSync(dir, { mode: 0o700 }); chownSync(dir, 12345, 12345); }, /belongs to uid 12345, not 0/]);
  }
  for (const [what, make, problem] of unsafe) {
    it(`does not use a directory that is ${what}: a private one of its own instead, and says why`, () => {
      // Prepare
      const dir = join(scratch, `unsafe-${what.replace(/\W+/g, '-')}`);
      make(dir);
      const logger = recordingLogger();
      const cache = new ModuleCache(dir, logger);

      // Act
      const ok = cache.put(hash, code);

      // Assess
      expect(ok).toBe(true);
      const used = dirname(cache.path(hash));
      expect(used).not.toBe(dir);
      expect(statSync(used).mode & 0o777).toBe(0o700);
      expect(readFileSync(cache.path(hash))).toEqual(code);
      expect(logger.lines).toHaveLength(1);
      const [level, , fields] = logger.lines[0]!;
      expect(level).toBe('warn');
      expect(fields).toMatchObject({ event: 'worker.module-dir-unsafe', dir, using: used });
      expect(String(fields?.problem)).toMatch(problem);
      rmSync(used, { recursive: true, force: true });
    });
  }

  it('defaults to a directory per user', () => {
    expect(defaultModuleCacheDir()).toBe(join(tmpdir(), `recc-modules-${process.getuid?.() ?? ''}`));
  });
});
