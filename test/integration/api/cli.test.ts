import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { systemClock } from '../../../shared/core/clock.ts';
import { randomIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { startApiServer, type ApiServer } from '../../../local/api-server.ts';
import { freePort } from '../../support/ports.ts';
import { startFakeProvisioner, type FakeProvisioner } from '../../support/api-fake-provisioner.ts';
import { RECC_BIN, runCli, type CliRun } from '../../support/cli-run.ts';

/** `recc cluster …` as a user runs it: a child process against a local API server. */
describe('recc cluster (CLI)', () => {
  let server: ApiServer;
  let provisioner: FakeProvisioner;
  let store: InMemoryClusterStore;
  let home: string;

  function recc(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
    return runCli(args, { env: { PATH: process.env.PATH ?? '', HOME: home, USERPROFILE: home, RECC_API_URL: server.url, ...env } });
  }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'recc-cli-home-'));
    store = new InMemoryClusterStore();
    const queue = new InMemoryWorkQueue();
    server = await startApiServer({
      port: 0,
      deps: { store, queue, clock: systemClock, ids: randomIds, logger: silentLogger },
      identity: { user: 'alice' },
    });
    provisioner = startFakeProvisioner(store, queue, { tickMs: 150 });
  });

  afterAll(async () => {
    provisioner?.stop();
    await server?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('creates a cluster and prints its $/hour (--json prints the API answer)', async () => {
    const human = await recc(['cluster', 'create', '--template', 'small', '--workers', '2', '--name', 'cli-one']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/Requested cluster c-[a-z0-9]+ \(cli-one\)/);
    expect(human.stdout).toMatch(/2 workers on \d+ × \S+: \$[\d.]+\/hour/);

    const json = await recc(['cluster', 'create', '--template', 'small', '--workers', '3', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const body = JSON.parse(json.stdout).data;
    expect(body.cluster.desiredWorkers).toBe(3);
    expect(body.estimate.costPerHour).toBeGreaterThan(0);
  });

  it('follows a create with --wait, one plain line per status change when not on a TTY', async () => {
    const run = await recc(['cluster', 'create', '--template', 'small', '--workers', '2', '--wait', '--name', 'cli-wait']);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^REQUESTED after [\d.]+ s$/);
    expect(lines).toEqual(expect.arrayContaining([expect.stringMatching(/^REQUESTED → PROVISIONING after/), expect.stringMatching(/^PROVISIONING → RUNNING after/)]));
    expect(run.stderr).not.toContain('\r');
    expect(run.stdout).toContain('scheduler tcp://127.0.0.1:1');
  });

  it.runIf(existsSync('/usr/bin/script'))('shows a spinner on a TTY while it waits', async () => {
    // util-linux `script` gives the command a pseudo-terminal; its output is the terminal's.
    const cmd = [process.execPath, RECC_BIN, 'cluster', 'create', '--template', 'small', '--workers', '2', '--wait', '--name', 'cli-tty', '--api', server.url]
      .map((a) => `'${a}'`)
      .join(' ');
    const run = await new Promise<CliRun>((resolve, reject) => {
      const child = spawn('/usr/bin/script', ['-qfec', cmd, '/dev/null'], { env: { PATH: process.env.PATH ?? '', HOME: home, TERM: 'xterm' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr: '' }));
    });
    expect(run.code, run.stdout).toBe(0);
    const frame = new RegExp(`\r${String.fromCharCode(27)}\\[2K[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] c-[a-z0-9]+ (REQUESTED|PROVISIONING)`);
    expect(run.stdout).toMatch(frame);
    expect(run.stdout).toMatch(/PROVISIONING → RUNNING after/);
  });

  it('lists, gets, scales and deletes (--wait) a cluster', async () => {
    const created = JSON.parse((await recc(['cluster', 'create', '--template', 'small', '--name', 'cli-life', '--json'])).stdout).data;
    const id = created.cluster.id as string;

    const list = await recc(['cluster', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATUS\s+WORKERS\s+\$\/HOUR\s+AGE$/);
    expect(list.stdout).toContain(id);
    const listed = JSON.parse((await recc(['cluster', 'list', '--json', '--status', 'REQUESTED', '--api', server.url])).stdout).data as { id: string }[];
    expect(Array.isArray(listed)).toBe(true);

    const get = await recc(['cluster', 'get', id]);
    expect(get.code).toBe(0);
    expect(get.stdout).toMatch(new RegExp(`^id\\s+${id}$`, 'm'));
    expect(get.stdout).toMatch(/^cost\s+\$[\d.]+\/hour/m);

    const scaled = await recc(['cluster', 'scale', id, '--workers', '4']);
    expect(scaled.code, scaled.stderr).toBe(0);
    expect(scaled.stdout).toContain('4 workers requested');

    const deleted = await recc(['cluster', 'delete', id, '--wait']);
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout.trim()).toBe(`cluster ${id} is DELETED`);
    expect(deleted.stderr).toMatch(/DELETING → DELETED after/);
  });

  it('shows the $/hour and when a RUNNING cluster will be removed if it stays idle', async () => {
    // Prepare
    const created = await recc(['cluster', 'create', '--template', 'small', '--idle-timeout', '45', '--name', 'cli-reap', '--wait', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const id = JSON.parse(created.stdout).data.cluster.id as string;

    // Act
    const human = await recc(['cluster', 'get', id]);
    const view = JSON.parse((await recc(['cluster', 'get', id, '--json'])).stdout).data;

    // Assess
    expect(human.code, human.stderr).toBe(0);
    expect(view.status).toBe('RUNNING');
    const costLine = human.stdout.split('\n').find((l) => l.startsWith('cost'));
    expect(view.plan.costPerHour).toBe(0.27);
    expect(costLine).toMatch(/^cost\s+\$0\.27\/hour(, \$[\d.]+ so far)?$/);
    // Every API call counts as activity, so the forecast is 45 min after the activity time that same answer showed.
    const lastActivity = /^last activity\s+(\S+)/m.exec(human.stdout)?.[1] ?? 'missing';
    const idleAt = new Date(Date.parse(lastActivity) + 45 * 60_000).toISOString();
    expect(human.stdout).toMatch(new RegExp(`^removed at\\s+${idleAt.replace(/\./g, '\\.')} if idle until then \\(idle\\)$`, 'm'));
    // --json carries the server's forecast for the activity time of its own answer.
    expect(view.reapAt).toBe(new Date(Date.parse(view.lastActivityAt) + 45 * 60_000).toISOString());
    expect(view.reapReason).toBe('idle');
    // Where the start went (issue 19 #5): the stages bounded by the record's stamps, in --json and in one human line.
    expect(view.startTimeline.totalMs).toBe(Date.parse(view.runningAt) - Date.parse(view.createdAt));
    expect(view.startTimeline.stages.map((st: { stage: string }) => st.stage)).toEqual(['queue', 'observe']);
    expect(human.stdout).toMatch(/^start time\s+\d+\.\d+ s \(queue \d+\.\d+, observe \d+\.\d+\)$/m);
  });

  it('exits 2 listing every problem when the input is invalid', async () => {
    const create = await recc(['cluster', 'create', '--workers', '-3', '--instance-type', 'c5.xlarge2']);
    expect(create.code).toBe(2);
    expect(create.stderr).toMatch(/nWorkers/);
    expect(create.stderr).toMatch(/instanceType.*c5\.xlarge/);
    expect(create.stderr).not.toMatch(/\n\s+at /);

    const { stdout } = await recc(['cluster', 'create', '--json']);
    const id = JSON.parse(stdout).data.cluster.id as string;
    const scale = await recc(['cluster', 'scale', id, '--workers', 'lots']);
    expect(scale.code).toBe(2);
    expect(scale.stderr).toContain('nWorkers');
  });

  it('exits 2 naming each --env and --tag without "=" with the other problems, and creates nothing', async () => {
    // Prepare
    const before = (await store.listAll()).length;

    // Act
    const run = await recc(['cluster', 'create', '--workers', '-3', '--env', 'FOO', '--tag', 'team']);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('nWorkers: must be a positive whole number (got -3)');
    expect(run.stderr).toContain('env.FOO: --env expected NAME=VALUE (got "FOO"); write --env FOO= for an empty value');
    expect(run.stderr).toContain('tags.team: --tag expected NAME=VALUE (got "team")');
    expect((await store.listAll()).length).toBe(before);
  });

  it('exits 2 naming every bad option of recc cost at once, each under its own flag', async () => {
    // Act
    const bad = await recc(['cost', '--group-by', 'team', '--since', 'yesterday', '--until', 'soon']);
    const reversed = await recc(['cost', '--since', '2026-12-01', '--until', '2026-11-01']);

    // Assess
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('groupBy: must be one of user, namespace, job (got "team")');
    expect(bad.stderr).toContain('since: "yesterday" is not a duration');
    expect(bad.stderr).toContain('until: "soon" is not a duration');
    expect(reversed.code).toBe(2);
    expect(reversed.stderr).toContain('since: must be before --until');
  });

  it('exits 1 with the API\'s message when the cluster does not exist', async () => {
    const run = await recc(['cluster', 'get', 'c-doesnotexist']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cluster c-doesnotexist not found');
  });

  it('exits 1 with one line naming the URL and how to start the API when the API is not reachable', async () => {
    const port = await freePort();
    const run = await recc(['cluster', 'list'], { RECC_API_URL: `http://127.0.0.1:${port}` });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`cannot reach the recc API at http://127.0.0.1:${port}`);
    expect(run.stderr).toContain('recc up');
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('reads the API URL and token from ~/.recc/config.json when the environment has none', async () => {
    const port = await freePort();
    mkdirSync(join(home, '.recc'), { recursive: true });
    writeFileSync(join(home, '.recc', 'config.json'), JSON.stringify({ apiUrl: `http://127.0.0.1:${port}` }));
    try {
      const run = await recc(['cluster', 'list'], { RECC_API_URL: '' });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`http://127.0.0.1:${port}`);
    } finally {
      rmSync(join(home, '.recc'), { recursive: true, force: true });
    }
  });
});
