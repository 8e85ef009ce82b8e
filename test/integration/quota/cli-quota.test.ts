import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { systemClock } from '../../../shared/core/clock.ts';
import { randomIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { QuotaPolicy } from '../../../shared/quota/config.ts';
import { startApiServer, type ApiServer } from '../../../local/api-server.ts';
import { runCli, type CliRun } from '../../support/cli-run.ts';

/**
 * `recc quota` (human table and `--json` envelope) and what a user sees when
 * `recc cluster create` hits a quota: exit 1, the quota, usage and request
 * named, no stack trace. The real CLI process against the local API server.
 */
describe('recc quota (CLI)', () => {
  let server: ApiServer;
  let home: string;

  function recc(args: string[]): Promise<CliRun> {
    return runCli(args, { env: { PATH: process.env.PATH ?? '', HOME: home, USERPROFILE: home, RECC_API_URL: server.url } });
  }

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'recc-cli-quota-'));
    const quotas = QuotaPolicy.from({ defaults: { user: { maxClusters: 1, maxGpus: null } }, groups: { rates: { members: ['alice'], maxCostPerHour: 5 } } });
    server = await startApiServer({ port: 0, deps: { store: new InMemoryClusterStore(), queue: new InMemoryWorkQueue(), clock: systemClock, ids: randomIds, logger: silentLogger, quotas }, identity: { user: 'alice' } });
  });

  afterAll(async () => {
    await server?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('prints the quotas of each scope with usage, and refuses a create over the limit with the numbers', async () => {
    // Prepare
    const first = await recc(['cluster', 'create', '--template', 'small']);
    expect(first.code, first.stderr).toBe(0);
    // Act
    const [human, json, over] = await Promise.all([recc(['quota']), recc(['quota', '--json']), recc(['cluster', 'create', '--template', 'small'])]);
    // Assess: the table
    expect(human.code, human.stderr).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Quotas of alice/);
    expect(lines[1]).toMatch(/^SCOPE\s+clusters used \/ limit\s+vCPUs used \/ limit\s+GPUs used \/ limit\s+\$\/hour used \/ limit$/);
    expect(lines[2]).toMatch(/^user alice\s+1 \/ 1\s+[\d.]+ \/ 2000\s+0 \/ unlimited\s+\$\d+\.\d\d \/ \$200\.00$/);
    expect(lines[3]).toMatch(/^group rates\s+1 \/ unlimited\s+[\d.]+ \/ unlimited\s+0 \/ unlimited\s+\$\d+\.\d\d \/ \$5\.00$/);
    expect(human.stdout).toContain('full: user alice: clusters at the limit');
    // the envelope
    expect(json.code).toBe(0);
    const body = JSON.parse(json.stdout) as { ok: boolean; command: string; data: { user: string; scopes: Array<{ scope: string; usage: { clusters: number } }> } };
    expect(body).toMatchObject({ ok: true, command: 'quota', data: { user: 'alice' } });
    expect(body.data.scopes.map((s) => [s.scope, s.usage.clusters])).toEqual([['user:alice', 1], ['group:rates', 1]]);
    // the refusal
    expect(over.code).toBe(1);
    expect(over.stderr).toContain('quota exceeded for user alice: limit 1 clusters, in use 1, this request adds 1');
    expect(over.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });
});
