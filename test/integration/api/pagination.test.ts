import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { startApiServer, type ApiServer } from '../../../local/api-server.ts';
import { runCli } from '../../support/cli-run.ts';

/**
 * Issue 17 #11: `GET /clusters` pages with `limit` and `nextToken`, newest
 * first; following the tokens returns every cluster exactly once even when
 * clusters are created between pages; `recc cluster list --limit/--next-token`
 * prints one page and the next token. The real HTTP server and CLI process.
 */
describe('Paged cluster lists (API and CLI)', () => {
  let server: ApiServer;
  let home: string;
  const clock = new ManualClock(Date.UTC(2026, 0, 1));

  const get = async (path: string) => {
    const res = await fetch(`${server.url}${path}`);
    return { status: res.status, body: (await res.json()) as any };
  };
  const create = async (name: string) => {
    const res = await fetch(`${server.url}/clusters`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ template: 'small', name }) });
    expect(res.status).toBe(202);
  };

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'recc-paging-'));
    server = await startApiServer({ port: 0, deps: { store: new InMemoryClusterStore(), queue: new InMemoryWorkQueue(), clock, ids: new SequentialIds(), logger: silentLogger }, identity: { user: 'alice' } });
    // 7 clusters: pairs share a creation time, so the id breaks ties.
    for (let i = 0; i < 7; i += 1) {
      if (i % 2 === 0) clock.advance(1000);
      await create(`p${i}`);
    }
  });

  afterAll(async () => {
    await server?.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('returns every cluster exactly once, newest first, across pages, with clusters created in between', async () => {
    const all = (await get('/clusters?limit=1000')).body;
    expect(all.nextToken).toBeNull();
    expect(all.clusters).toHaveLength(7);
    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const page = await get(`/clusters?limit=3${token ? `&nextToken=${token}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.clusters.length).toBeLessThanOrEqual(3);
      seen.push(...page.body.clusters.map((c: { name: string }) => c.name));
      token = page.body.nextToken;
      pages += 1;
      if (pages === 1) {
        clock.advance(1000);
        await create('late'); // newer than everything: never shows up on a later page
      }
    } while (token !== null);
    expect(pages).toBe(3);
    expect(seen).toEqual(all.clusters.map((c: { name: string }) => c.name));
  });

  it('names a bad limit or token (400), never a 5xx', async () => {
    for (const [q, path] of [['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=ten', 'limit'], ['nextToken=%24%24', 'nextToken'], [`nextToken=${Buffer.from('["v2",1]').toString('base64url')}`, 'nextToken'], ['nextToken=bm9wZQ', 'nextToken']] as const) {
      const r = await get(`/clusters?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error.details.map((d: { path: string }) => d.path), q).toContain(path);
    }
  });

  it('pages the templates by name too, and refuses a bad limit or token with 400', async () => {
    const all = await get('/templates');
    expect(all.status).toBe(200);
    expect(all.body.nextToken).toBeNull();
    const names: string[] = all.body.templates.map((t: { name: string }) => t.name);
    expect(names.length).toBeGreaterThan(2);
    expect(names).toEqual([...names].sort());
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const page: { status: number; body: any } = await get(`/templates?limit=2${token ? `&nextToken=${token}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.templates.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.templates.map((t: { name: string }) => t.name));
      token = page.body.nextToken;
    } while (token);
    expect(seen).toEqual(names);
    for (const q of ['limit=0', 'nextToken=%24%24', 'constructor=1']) expect((await get(`/templates?${q}`)).status, q).toBe(400);
  });

  it('recc cluster list --limit prints one page and the token of the next; without it, the whole list', async () => {
    const env = { PATH: process.env.PATH ?? '', HOME: home, USERPROFILE: home, RECC_API_URL: server.url };
    const first = await runCli(['cluster', 'list', '--limit', '5', '--json'], { env });
    expect(first.code, first.stderr).toBe(0);
    const page = JSON.parse(first.stdout).data as { clusters: unknown[]; nextToken: string };
    expect(page.clusters).toHaveLength(5);
    const second = await runCli(['cluster', 'list', '--limit', '5', '--next-token', page.nextToken, '--json'], { env });
    const rest = JSON.parse(second.stdout).data as { clusters: unknown[]; nextToken: string | null };
    expect(rest.clusters).toHaveLength(3);
    expect(rest.nextToken).toBeNull();
    const human = await runCli(['cluster', 'list', '--limit', '2'], { env });
    expect(human.stderr).toMatch(/^more: recc cluster list --next-token [A-Za-z0-9_-]+ --limit 2$/m);
    const whole = await runCli(['cluster', 'list', '--json'], { env });
    expect(JSON.parse(whole.stdout).data).toHaveLength(8);
    const bad = await runCli(['cluster', 'list', '--limit', '0'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('limit: must be a whole number from 1 to 1000');
  });
});
