import { mkdirSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHROMIUM, haveChromium, launchChromium, seriousA11yViolations } from '../../support/browser.ts';
import { startUsersStack } from '../../support/local-stack.ts';
import { waitFor } from '../../support/wait.ts';
import type { CostSeries } from '../../../shared/cost/series.ts';

if (!haveChromium) console.warn(`skipping the console browser test: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`);

/**
 * Issue 16: the control-plane console served by `recc up`, in a real
 * browser, against the real local stack (dynalite, local-process clusters).
 * Two users with their own tokens: what each sees and may do is what the
 * API lets that caller see and do.
 */
describe.skipIf(!haveChromium)('Control-plane console in a real browser', () => {
  it('denies strangers, creates from the form to RUNNING, shows the API validation, cost rows per user, namespace and job, deletes, and hides alice from bob', async () => {
    const tokens = { alice: 'tok-alice-0123456789abcdef', bob: 'tok-bob-0123456789abcdef' };
    const { stack, stateDir } = await startUsersStack('console', tokens);
    const browser = await launchChromium();
    try {
      // A stranger: 401 and nothing rendered, for the page, its script and the API.
      const stranger = await browser.newPage();
      const denied = await stranger.goto(`${stack.url}/console`);
      expect(denied?.status()).toBe(401);
      expect(await stranger.locator('form, table').count()).toBe(0);
      expect((await fetch(`${stack.url}/console.js`)).status).toBe(401);
      expect((await fetch(`${stack.url}/console?token=wrong`, { redirect: 'manual' })).status).toBe(401);
      expect((await fetch(`${stack.url}/clusters`)).status).toBe(401);

      // Alice opens her link: the token becomes an HttpOnly cookie and leaves the address bar.
      const aliceCtx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const alice = await aliceCtx.newPage();
      const problems: string[] = [];
      alice.on('pageerror', (e) => problems.push(String(e)));
      const opened = await alice.goto(`${stack.url}/console?token=${tokens.alice}`);
      expect(alice.url()).toBe(`${stack.url}/console`);
      expect(opened?.headers()['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);
      expect(await alice.content()).not.toContain(tokens.alice);
      const cookies = await aliceCtx.cookies();
      expect(cookies).toHaveLength(1);
      expect(cookies[0]!.httpOnly).toBe(true);
      expect(cookies[0]!.sameSite).toBe('Strict');
      expect(cookies[0]!.value).not.toContain(tokens.alice);
      await alice.locator('body[data-loaded="true"]').waitFor({ timeout: 30_000 });

      // A cookie alone cannot write (a cross-site form could send it): the console header is required.
      const cookieHeader = `${cookies[0]!.name}=${cookies[0]!.value}`;
      const forged = await fetch(`${stack.url}/clusters`, { method: 'POST', headers: { cookie: cookieHeader, 'content-type': 'application/json' }, body: '{}' });
      expect(forged.status).toBe(403);

      // Keyboard: the first Tab lands on the form's first field.
      await alice.keyboard.press('Tab');
      expect(await alice.evaluate('document.activeElement && document.activeElement.id')).toBe('c-name');

      // The API's validation message, shown as the API words it.
      const apiAnswer = await fetch(`${stack.url}/clusters`, { method: 'POST', headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bad', nWorkers: -3 }) });
      expect(apiAnswer.status).toBe(400);
      const apiError = ((await apiAnswer.json()) as { error: { message: string; details: Array<{ path: string; message: string }> } }).error;
      await alice.fill('#c-name', 'bad');
      await alice.fill('#c-workers', '-3');
      await alice.keyboard.press('Enter');
      const errors = alice.locator('#create-errors');
      await errors.locator('p').waitFor({ timeout: 30_000 });
      expect(await errors.locator('p').textContent()).toBe(apiError.message);
      expect(await errors.locator('li').allTextContents()).toEqual(apiError.details.map((d) => `${d.path ? `${d.path}: ` : ''}${d.message}`));

      // Create from the form, see it RUNNING.
      await alice.fill('#c-name', 'alice-console');
      await alice.fill('#c-workers', '1');
      await alice.fill('#c-job', 'nightly-risk');
      await alice.getByRole('button', { name: 'Create' }).click();
      const row = alice.locator('#clusters tbody tr[data-name="alice-console"]');
      await row.waitFor({ timeout: 30_000 });
      await waitFor(async () => ((await row.locator('td[data-field="status"]').textContent())?.startsWith('RUNNING') ? true : undefined), { what: 'the cluster to show RUNNING', timeoutMs: 120_000 });
      const id = (await row.getAttribute('data-cluster-id')) as string;

      // Cost rows for the user, the namespace and the job.
      const ns = (((await (await fetch(`${stack.url}/clusters/${id}`, { headers: { authorization: `Bearer ${tokens.alice}` } })).json()) as { cluster: { namespace: string } }).cluster.namespace);
      await alice.locator('#cost-user tbody tr[data-key="alice"]').waitFor({ timeout: 30_000 });
      await alice.locator(`#cost-namespace tbody tr[data-key="${ns}"]`).waitFor({ timeout: 30_000 });
      // Jobs are keyed by owner and name (two users' jobs of one name are two jobs).
      await alice.locator('#cost-job tbody tr[data-key="alice/nightly-risk"]').waitFor({ timeout: 30_000 });

      // Scheduled jobs: a job alice creates through the API, one run triggered, its status in the runs table.
      const auth = { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' };
      const job = await fetch(`${stack.url}/jobs`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'console-broken', schedule: 'rate(1 day)', cluster: { template: 'small' }, entry: { module: 'test/e2e/jobs/fixtures/failing-job.ts', params: {} } }) });
      expect(job.status).toBe(201);
      const started = await fetch(`${stack.url}/jobs/console-broken/runs`, { method: 'POST', headers: auth, body: '{}' });
      expect([200, 201, 202]).toContain(started.status);
      const jobRow = alice.locator('#jobs tbody tr[data-job="alice/console-broken"]');
      await jobRow.waitFor({ timeout: 30_000 });
      await jobRow.getByRole('button', { name: 'Runs of console-broken' }).click();
      const runRow = alice.locator('#runs tbody tr').first();
      await runRow.waitFor({ timeout: 30_000 });
      await waitFor(async () => (/FAILED/.test((await runRow.locator('td[data-field="status"]').textContent()) ?? '') ? true : undefined), { what: 'the run to show FAILED in the console', timeoutMs: 180_000 });

      expect(await seriousA11yViolations(alice)).toEqual([]);
      mkdirSync('test/e2e/screenshots', { recursive: true });
      await alice.screenshot({ path: 'test/e2e/screenshots/console.png', fullPage: true });

      // Bob sees none of alice's clusters or costs, cannot list everyone's, and cannot delete hers.
      const bobCtx = await browser.newContext();
      const bob = await bobCtx.newPage();
      await bob.goto(`${stack.url}/console?token=${tokens.bob}`);
      await bob.locator('body[data-loaded="true"]').waitFor({ timeout: 30_000 });
      expect(await bob.locator('#clusters tbody tr').count()).toBe(0);
      expect(await bob.locator('#cost-user tbody tr[data-key="alice"]').count()).toBe(0);
      await bob.check('#all');
      await bob.locator('#clusters-errors p').waitFor({ timeout: 30_000 });
      expect(await bob.locator('#clusters tbody tr').count()).toBe(0);
      const bobDelete = await fetch(`${stack.url}/clusters/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${tokens.bob}` } });
      expect([403, 404]).toContain(bobDelete.status);

      // Alice deletes from the page.
      await row.getByRole('button', { name: 'Delete alice-console' }).click();
      await waitFor(async () => ((await row.count()) === 0 || /^DELET/.test((await row.locator('td[data-field="status"]').textContent()) ?? '') ? true : undefined), { what: 'the cluster to be deleting', timeoutMs: 60_000 });

      // Cost charts (uPlot): one per dimension, each with the series, totals and forecasts GET /costs/series answers.
      // Once the cluster ended its cost stops moving, so page and API must agree exactly.
      await waitFor(async () => {
        const cluster = (await (await fetch(`${stack.url}/clusters/${id}`, { headers: auth })).json()) as { cluster: { status: string } };
        return cluster.cluster.status === 'DELETED' ? true : undefined;
      }, { what: 'the cluster to be DELETED', timeoutMs: 120_000 });
      for (const dim of ['user', 'namespace', 'job'] as const) {
        const chart = alice.locator(`#chart-${dim}`);
        await chart.locator('canvas').waitFor({ timeout: 30_000 });
        const key = dim === 'user' ? 'alice' : dim === 'namespace' ? ns : 'alice/nightly-risk';
        await waitFor(async () => {
          const api = ((await (await fetch(`${stack.url}/costs/series?interval=day&groupBy=${dim}`, { headers: auth })).json()) as { series: CostSeries }).series;
          const page = { keys: JSON.parse((await chart.getAttribute('data-keys')) ?? '[]'), totals: JSON.parse((await chart.getAttribute('data-totals')) ?? '{}'), forecasts: JSON.parse((await chart.getAttribute('data-forecasts')) ?? '{}'), budgets: JSON.parse((await chart.getAttribute('data-budgets')) ?? '[]') };
          const want = {
            keys: api.series.map((l) => l.key),
            totals: Object.fromEntries(api.series.map((l) => [l.key, l.cumulative.at(-1)])),
            forecasts: Object.fromEntries(api.series.map((l) => [l.key, l.month.forecast])),
            budgets: [...new Set(api.series.map((l) => l.budget))].sort((a, b) => (a ?? 0) - (b ?? 0)),
          };
          return want.keys.includes(key) && JSON.stringify(page) === JSON.stringify(want) ? true : undefined;
        }, { what: `the ${dim} chart to show the API's series`, timeoutMs: 60_000 });
        // Something was drawn: uPlot's canvas is not blank.
        const inked = await chart.locator('canvas').evaluate((c: any) => {
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < d.length; i += 4) if ((d[i] as number) > 0) n++;
          return n;
        });
        expect(inked).toBeGreaterThan(100);
        expect(await alice.locator(`#cost-${dim} tbody tr[data-key="${key}"]`).count()).toBe(1);
      }
      expect(await seriousA11yViolations(alice)).toEqual([]);
      await alice.screenshot({ path: 'test/e2e/screenshots/console-costs.png', fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
      await stack.close({ teardownClusters: true });
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
