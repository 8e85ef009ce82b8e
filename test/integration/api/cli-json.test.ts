import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
import { runCli, type CliRun } from '../../support/cli-run.ts';

/**
 * Golden tests of the `--json` envelope (README "JSON output"): every command
 * prints exactly one JSON document on stdout, `{ok: true, command, data}` or
 * `{ok: false, command, error: {type, message, details}}`, nothing on stderr
 * but `--wait` progress,
 * and keeps its exit code (0 ok, 2 invalid input, 1 other failures).
 */
interface Envelope {
  ok: boolean;
  command: string;
  data?: any;
  error?: { type: string; message: string; details: Array<{ path: string; message: string }> };
}

function envelope(run: CliRun): Envelope {
  // stderr carries only --wait progress lines, never the result or an error.
  expect(run.stderr, 'no error text on stderr under --json').not.toMatch(/error/i);
  if (!run.stderr.includes('after')) expect(run.stderr).toBe('');
  const body = JSON.parse(run.stdout) as Envelope;
  expect(Object.keys(body).sort()).toEqual(body.ok ? ['command', 'data', 'ok'] : ['command', 'error', 'ok']);
  if (!body.ok) expect(Object.keys(body.error ?? {}).sort()).toEqual(['details', 'message', 'type']);
  return body;
}

describe('recc --json (CLI golden envelopes)', () => {
  let server: ApiServer;
  let provisioner: FakeProvisioner;
  let home: string;

  function recc(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
    return runCli(args, { env: { PATH: process.env.PATH ?? '', HOME: home, USERPROFILE: home, RECC_API_URL: server.url, ...env } });
  }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'recc-cli-json-'));
    const store = new InMemoryClusterStore();
    const queue = new InMemoryWorkQueue();
    server = await startApiServer({ port: 0, deps: { store, queue, clock: systemClock, ids: randomIds, logger: silentLogger }, identity: { user: 'alice' } });
    provisioner = startFakeProvisioner(store, queue, { tickMs: 100 });
  });

  afterAll(async () => {
    provisioner?.stop();
    await server?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('wraps the answer of every read-only command: estimate, templates, render, cost', async () => {
    const [estimate, templates, render, cost] = await Promise.all([
      recc(['estimate', '--workers', '2', '--json']),
      recc(['templates', '--json']),
      recc(['render', '--backend', 'local', '--owner', 'alice', '--json']),
      recc(['cost', '--json']),
    ]);
    for (const run of [estimate, templates, render, cost]) expect(run.code, run.stderr).toBe(0);
    const e = envelope(estimate);
    expect(e).toMatchObject({ ok: true, command: 'estimate' });
    expect(Object.keys(e.data).sort()).toEqual(['plan', 'spec', 'sqsRoute']);
    expect(e.data.sqsRoute.perMillionTasks).toBeGreaterThan(0);
    const t = envelope(templates);
    expect(t).toMatchObject({ ok: true, command: 'templates' });
    expect(t.data.map((x: { name: string }) => x.name)).toContain('small');
    expect(envelope(render)).toMatchObject({ ok: true, command: 'render' });
    const c = envelope(cost);
    expect(c).toMatchObject({ ok: true, command: 'cost', data: { scope: expect.any(String) } });
  });

  it('wraps create, list, get, scale and delete, and addresses a cluster by name as well as id', async () => {
    // Act
    const created = envelope(await recc(['cluster', 'create', '--template', 'small', '--name', 'json-life', '--wait', '--json']));
    const id = created.data.cluster.id as string;
    const listed = envelope(await recc(['cluster', 'list', '--status', 'running', '--json']));
    const byName = envelope(await recc(['cluster', 'get', 'json-life', '--json']));
    const scaled = envelope(await recc(['cluster', 'scale', 'json-life', '--workers', '3', '--json']));
    const logsRun = await recc(['cluster', 'logs', 'json-life', '--json']); // this API server keeps no logs (only recc up does)
    const deleted = envelope(await recc(['cluster', 'delete', 'json-life', '--wait', '--json']));

    // Assess
    expect(created).toMatchObject({ ok: true, command: 'cluster create', data: { created: true, cluster: { name: 'json-life', status: 'RUNNING' } } });
    expect(Object.keys(created.data).sort()).toEqual(['cluster', 'created', 'estimate', 'plan']);
    expect(listed.command).toBe('cluster list');
    expect(listed.data.map((c: { id: string }) => c.id)).toContain(id);
    expect(listed.data.every((c: { status: string }) => c.status === 'RUNNING')).toBe(true);
    expect(byName).toMatchObject({ ok: true, command: 'cluster get', data: { id, name: 'json-life' } });
    expect(scaled).toMatchObject({ ok: true, command: 'cluster scale', data: { id, desiredWorkers: 3 } });
    expect(deleted).toMatchObject({ ok: true, command: 'cluster delete', data: { id, status: 'DELETED' } });
    expect(logsRun.code).toBe(1);
    expect(envelope(logsRun)).toMatchObject({ ok: false, command: 'cluster logs', error: { message: expect.stringMatching(/does not serve cluster logs/) } });
  });

  it('reports every kind of failure in the envelope with the exit code kept', async () => {
    // Act
    const invalidSpec = await recc(['cluster', 'create', '--workers', '-3', '--env', 'FOO', '--json']);
    const badStatus = await recc(['cluster', 'list', '--status', 'sleeping', '--json']);
    const missing = await recc(['cluster', 'get', 'no-such-cluster', '--json']);
    const usage = await recc(['cluster', 'scale', 'x', '--json']);
    const unknownTemplate = await recc(['estimate', '--template', 'nope', '--json']);
    const badCost = await recc(['cost', '--group-by', 'team', '--json']);
    const badRender = await recc(['render', '--workers', 'lots', '--json']);
    const port = await freePort();
    const unreachable = await recc(['cluster', 'list', '--json'], { RECC_API_URL: `http://127.0.0.1:${port}` });
    const badUp = await recc(['up', '--port', 'eighty', '--json']);
    const logsBadId = await recc(['cluster', 'logs', 'BAD ID', '--component', 'db', '--json']);
    const badTemplateName = await recc(['cluster', 'create', '--template', 'bad name!', '--json']);

    // Assess: the golden envelopes (messages that carry ports or template lists are matched by their stable part).
    expect(invalidSpec.code).toBe(2);
    expect(envelope(invalidSpec)).toEqual({
      ok: false,
      command: 'cluster create',
      error: {
        type: 'ValidationError',
        message: 'invalid cluster spec: 2 problems',
        details: [
          { path: 'nWorkers', message: 'must be a positive whole number (got -3)' },
          { path: 'env.FOO', message: '--env expected NAME=VALUE (got "FOO"); write --env FOO= for an empty value' },
        ],
      },
    });
    expect(badStatus.code).toBe(2);
    expect(envelope(badStatus)).toEqual({
      ok: false,
      command: 'cluster list',
      error: {
        type: 'ValidationError',
        message: 'invalid --status "sleeping"',
        details: [{ path: 'status', message: 'must be one of REQUESTED, PROVISIONING, RUNNING, DELETING, DELETED, FAILED in any case (got "sleeping")' }],
      },
    });
    expect(missing.code).toBe(1);
    expect(envelope(missing)).toEqual({
      ok: false,
      command: 'cluster get',
      error: {
        type: 'ClusterNotFoundError',
        message: 'cluster no-such-cluster not found: no cluster has that id or name; `recc cluster list` shows ids and names (--all for every user\'s)',
        details: [],
      },
    });
    expect(usage.code).toBe(2);
    expect(envelope(usage)).toEqual({
      ok: false,
      command: 'cluster scale',
      error: { type: 'ValidationError', message: "required option '--workers <n>' not specified", details: [{ path: 'missingMandatoryOptionValue', message: "required option '--workers <n>' not specified" }] },
    });
    expect(unknownTemplate.code).toBe(2);
    expect(envelope(unknownTemplate).error).toMatchObject({ type: 'SpecValidationError', details: [{ path: 'template', message: expect.stringMatching(/^unknown template "nope"; known templates: .*small/) }] });
    expect(badCost.code).toBe(2);
    expect(envelope(badCost).error).toEqual({ type: 'ValidationError', message: 'invalid options for recc cost', details: [{ path: 'groupBy', message: 'must be one of user, namespace, job (got "team")' }] });
    expect(badRender.code).toBe(2);
    expect(envelope(badRender)).toMatchObject({ ok: false, command: 'render', error: { details: [{ path: 'nWorkers' }] } });
    expect(unreachable.code).toBe(1);
    expect(envelope(unreachable)).toMatchObject({ ok: false, command: 'cluster list', error: { type: 'ApiUnreachableError', message: expect.stringContaining(`cannot reach the recc API at http://127.0.0.1:${port}`) } });
    expect(badUp.code).toBe(2);
    expect(envelope(badUp)).toMatchObject({ ok: false, command: 'up', error: { type: 'ValidationError', details: [{ path: 'port' }] } });
    // The API's hint names its route; the CLI names the command to run instead.
    expect(badTemplateName.code).toBe(2);
    const hint = envelope(badTemplateName).error;
    expect(JSON.stringify(hint)).toContain('`recc templates`');
    expect(JSON.stringify(hint)).not.toContain('GET /templates');
    expect(logsBadId.code).toBe(2);
    expect(envelope(logsBadId)).toMatchObject({ ok: false, command: 'cluster logs', error: { type: 'ValidationError', details: [{ path: 'component' }] } });
  });

  it('refuses a name that several live clusters share, listing their ids', async () => {
    // Prepare
    const a = envelope(await recc(['cluster', 'create', '--name', 'twin', '--json'])).data.cluster.id as string;
    const b = envelope(await recc(['cluster', 'create', '--name', 'twin', '--json'])).data.cluster.id as string;

    // Act
    const run = await recc(['cluster', 'get', 'twin', '--json']);

    // Assess
    expect(run.code).toBe(2);
    const { error } = envelope(run);
    expect(error?.type).toBe('AmbiguousClusterNameError');
    expect(error?.message).toBe('2 clusters are named "twin"; give the id instead');
    expect(error?.details.map((d) => d.message.split(' ')[0]).sort()).toEqual([a, b].sort());
  });

  it('takes --status in any case, a spec file for create --template, and names clusters readably by default', async () => {
    // Prepare
    const dir = mkdtempSync(join(tmpdir(), 'recc-spec-'));
    const specFile = join(dir, 'my-spec.yaml');
    writeFileSync(specFile, 'description: two small workers\nspec:\n  nWorkers: 2\n  workerCpu: 1\n  env:\n    FROM_FILE: "yes"\n');

    try {
      // Act
      const fromFile = envelope(await recc(['cluster', 'create', '--template', specFile, '--env', 'FROM_FLAG=1', '--json']));
      const upper = envelope(await recc(['cluster', 'list', '--status', 'REQUESTED', '--json']));
      const mixed = envelope(await recc(['cluster', 'list', '--status', 'ReQuested', '--json']));

      // Assess
      expect(fromFile.data.cluster.spec).toMatchObject({ nWorkers: 2, workerCpu: 1, env: { FROM_FILE: 'yes', FROM_FLAG: '1' } });
      expect(fromFile.data.cluster.name).toMatch(/^my-spec-[a-z]{3}\d{2}-\d{4}$/);
      expect(fromFile.data.cluster.name).not.toContain(fromFile.data.cluster.id);
      expect(mixed.data.map((c: { id: string }) => c.id).sort()).toEqual(upper.data.map((c: { id: string }) => c.id).sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows a deleted cluster with its cost to date, no rate and no dead addresses; a live one with the RECC_CLUSTER line', async () => {
    // Prepare
    const created = envelope(await recc(['cluster', 'create', '--template', 'small', '--wait', '--json']));
    const id = created.data.cluster.id as string;
    const live = await recc(['cluster', 'get', id]);

    // Act
    await recc(['cluster', 'delete', id, '--wait']);
    const gone = await recc(['cluster', 'get', id]);

    // Assess
    expect(live.stdout).toMatch(/^cost\s+\$[\d.]+\/hour/m);
    expect(live.stdout).toMatch(/^scheduler \(tcp\)\s+tcp:/m);
    expect(live.stdout).toContain(`RECC_CLUSTER=id:${id}`);
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stdout).toMatch(/^status\s+DELETED/m);
    expect(gone.stdout).toMatch(/^cost\s+\$[\d.]+ in total \(ran at \$[\d.]+\/hour\)$/m);
    expect(gone.stdout).not.toMatch(/^(scheduler|request queue|dashboard|removed at)\b/m);
    expect(gone.stdout).not.toContain('RECC_CLUSTER=');
  });
});
