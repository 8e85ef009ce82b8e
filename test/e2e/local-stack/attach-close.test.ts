import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReccCluster } from '../../../client/index.ts';
import { REPO_ROOT, api, killClusterProcesses, processesOfCluster, startReccUp, tempStateDir, waitForCluster, type ReccUpProcess } from '../../support/local-stack.ts';
import { runCli } from '../../support/cli-run.ts';

/**
 * Issue 23 #1, as a researcher meets it: a cluster made with `recc cluster
 * create`, then a script run with `RECC_CLUSTER=id:…` that closes its handle in
 * `finally`. Attaching must never delete; only the handle that created a
 * cluster deletes it on close.
 */
const run = promisify(execFile);
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');

function terminal(c: { status: string }): boolean {
  return c.status === 'DELETED' || c.status === 'FAILED';
}

describe('Feature: attaching to a cluster never deletes it', () => {
  let up: ReccUpProcess;
  let stateDir: string;
  let scripts: string;

  beforeAll(async () => {
    stateDir = tempStateDir('attach');
    scripts = mkdtempSync(join(tmpdir(), 'recc-attach-script-'));
    up = await startReccUp({ stateDir });
  });

  afterAll(async () => {
    await up?.stop();
    killClusterProcesses(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(scripts, { recursive: true, force: true });
  });

  it('leaves a CLI-made cluster RUNNING after a RECC_CLUSTER=id:… script closes its handle in finally', async () => {
    // Prepare: the cluster a researcher makes by hand, and the line `cluster get` tells them to use.
    const created = await runCli(['cluster', 'create', '--workers', '1', '--worker-memory', '0.5', '--wait', '--json', '--api', up.url]);
    expect(created.code, created.stderr).toBe(0);
    const id = JSON.parse(created.stdout).data.cluster.id as string;
    const shown = await runCli(['cluster', 'get', id, '--api', up.url]);
    const line = /RECC_CLUSTER=(id:c-[a-z0-9-]+)/.exec(shown.stdout)?.[1];
    expect(line, shown.stdout).toBe(`id:${id}`);
    const script = join(scripts, 'attach.mts');
    writeFileSync(
      script,
      [
        `import { Client, clusterFromEnv } from ${JSON.stringify(join(REPO_ROOT, 'client', 'index.ts'))};`,
        'const cluster = await clusterFromEnv();',
        'try {',
        '  const client = await Client.connect(cluster);',
        '  try { console.log(`answer ${await client.submit((a: number, b: number) => a * b, 6, 7).result()}`); } finally { await client.close(); }',
        '} finally {',
        '  await cluster.close();',
        '}',
      ].join('\n'),
    );

    // Act: a real child process, as `RECC_CLUSTER=id:… npx tsx script.ts` runs it.
    const child = await run(TSX, [script], { cwd: REPO_ROOT, env: { ...process.env, RECC_CLUSTER: line ?? '', RECC_API_URL: up.url }, timeout: 120_000 });
    // A second script with a bare id (what `recc cluster list` shows) attaches the same way.
    const bare = await run(TSX, [script], { cwd: REPO_ROOT, env: { ...process.env, RECC_CLUSTER: id, RECC_API_URL: up.url }, timeout: 120_000 });
    const after = (await api(up.url, 'GET', `/clusters/${id}`)).body.cluster;

    // Assess
    expect(child.stdout).toContain('answer 42');
    expect(bare.stdout).toContain('answer 42');
    expect(after.status).toBe('RUNNING');
    expect(processesOfCluster(id).length).toBeGreaterThan(0);

    // The owner (here the CLI) deletes it explicitly.
    const deleted = await runCli(['cluster', 'delete', id, '--wait', '--api', up.url]);
    expect(deleted.code, deleted.stderr).toBe(0);
  });

  it('deletes the cluster when the handle that created it closes, and honours shutdownOnClose both ways', async () => {
    // Prepare
    const owner = await ReccCluster.create({ apiUrl: up.url, nWorkers: 1, workerMemoryGiB: 0.5, heartbeatIntervalMs: 0 });
    const attached = await ReccCluster.connect(owner.id, { apiUrl: up.url, heartbeatIntervalMs: 0 });
    const keeper = await ReccCluster.create({ apiUrl: up.url, nWorkers: 1, workerMemoryGiB: 0.5, heartbeatIntervalMs: 0, shutdownOnClose: false });
    const killer = await ReccCluster.connect(keeper.id, { apiUrl: up.url, heartbeatIntervalMs: 0, shutdownOnClose: true });

    // Act
    await attached.close();
    const afterDetach = (await api(up.url, 'GET', `/clusters/${owner.id}`)).body.cluster;
    await owner.close();
    await keeper.close();
    const keptAfterOwnerClose = (await api(up.url, 'GET', `/clusters/${keeper.id}`)).body.cluster;
    await killer.close();

    // Assess
    expect([owner.shutdownOnClose, attached.shutdownOnClose, keeper.shutdownOnClose, killer.shutdownOnClose]).toEqual([true, false, false, true]);
    expect(afterDetach.status).toBe('RUNNING');
    expect(keptAfterOwnerClose.status).toBe('RUNNING');
    expect((await waitForCluster(up.url, owner.id, terminal, 'owner close deletes')).status).toBe('DELETED');
    expect((await waitForCluster(up.url, keeper.id, terminal, 'shutdownOnClose: true deletes')).status).toBe('DELETED');
  });
});
