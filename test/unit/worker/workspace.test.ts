import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newWorkspaceDir, scratchDirFromEnv, sweepStaleWorkspaces } from '../../../worker/workspace.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), 'recc-scratch-test-'));
  dirs.push(d);
  return d;
};

describe('worker workspaces', () => {
  it('names a workspace after the pid, under the scratch directory', () => {
    const s = scratch();
    expect(newWorkspaceDir(s, 1234)).toMatch(new RegExp(`^${s}/recc-worker-1234-[a-z0-9]+$`));
    expect(scratchDirFromEnv({ RECC_SCRATCH_DIR: s })).toBe(s);
    expect(scratchDirFromEnv({ RECC_SCRATCH_DIR: '  ' })).toBe(tmpdir());
  });

  it('sweeps the workspaces of dead pids only, old names included, and nothing else', () => {
    const s = scratch();
    const dead = join(s, 'recc-worker-111-abc123');
    const deadOld = join(s, 'recc-spill-112-zz9');
    const alive = join(s, 'recc-worker-222-def456');
    const other = join(s, 'recc-worker-333'); // not a workspace name
    const file = join(s, 'recc-worker-444-aaa'); // a plain file of that name is removed too (force)
    for (const d of [dead, deadOld, alive, other]) mkdirSync(d);
    writeFileSync(join(dead, 'spilled'), 'x');
    writeFileSync(file, 'x');
    const removed = sweepStaleWorkspaces(s, (pid) => pid === 222);
    expect(removed.sort()).toEqual([dead, deadOld, file].sort());
    expect(readdirSync(s).sort()).toEqual(['recc-worker-222-def456', 'recc-worker-333']);
  });

  it('treats a missing scratch directory as nothing to sweep', () => {
    expect(sweepStaleWorkspaces(join(tmpdir(), 'recc-no-such-dir-xyz'))).toEqual([]);
  });

  it('keeps the workspace of this process', () => {
    const s = scratch();
    const mine = newWorkspaceDir(s);
    mkdirSync(mine);
    sweepStaleWorkspaces(s);
    expect(existsSync(mine)).toBe(true);
  });
});
