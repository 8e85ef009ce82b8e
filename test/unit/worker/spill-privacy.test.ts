import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ShardBuffer } from '../../../worker/shuffle-buffer.ts';
import { DataStore } from '../../../worker/store.ts';

/**
 * A worker's workspace sits under the temp directory, which the users of a research server share, and what
 * spills there is the user's data (results, shuffle shards). Spilled files used to be created with the
 * default mode: readable by every user of the host.
 */
const scratch = mkdtempSync(join(tmpdir(), 'recc-spill-privacy-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const mode = (path: string): number => statSync(path).mode & 0o777;

describe('Spilled data is private to its user', () => {
  it('DataStore: the workspace it creates is 0700 and each spilled result 0600', () => {
    // Prepare: a limit so low that every result spills
    const workspace = join(scratch, 'recc-worker-1-store');
    const store = new DataStore(workspace, 16);

    // Act
    store.put('a', Buffer.alloc(64, 1));
    store.put('b', Buffer.alloc(64, 2));

    // Assess
    expect(store.spillCount).toBeGreaterThan(0);
    expect(mode(workspace)).toBe(0o700);
    const files = readdirSync(workspace);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(mode(join(workspace, f))).toBe(0o600);
  });

  it('ShardBuffer: the shuffle directory and its workspace are 0700, and each spill file 0600', async () => {
    // Prepare
    const workspace = join(scratch, 'recc-worker-2-shuffle');
    const dir = join(workspace, 'shuffle');
    const buf = new ShardBuffer(dir, 4);

    // Act
    expect(await buf.put('s', 1, 0, [0, 1], [Buffer.alloc(32, 1), Buffer.alloc(32, 2)])).toBe(true);

    // Assess
    expect(buf.spilledBytes).toBeGreaterThan(0);
    expect(mode(workspace)).toBe(0o700);
    expect(mode(dir)).toBe(0o700);
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(mode(join(dir, f))).toBe(0o600);
  });
});
