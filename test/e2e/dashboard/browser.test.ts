import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import { waitFor } from '../../support/wait.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`skipping the dashboard browser test: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`);

async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

describe.skipIf(!haveChromium)('Cluster dashboard in a real browser', () => {
  it('shows task groups progressing to done, workers with memory bars, and a killed worker in the event log', async () => {
    await using cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 2, dashboard: true, restartWorkers: false });
    await using client = await Client.connect(cluster);
    const browser = await launch();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(String(e)));

      // Unauthenticated: 401 and no page.
      const denied = await page.goto(`${cluster.dashboardUrl}/`);
      expect(denied?.status()).toBe(401);
      expect(await page.locator('#groups').count()).toBe(0);
      problems.length = 0; // the browser logs the 401 itself

      // The token link: exchanged for a cookie, the token leaves the address bar.
      await page.goto(`${cluster.dashboardUrl}/?token=${encodeURIComponent(cluster.token)}`);
      expect(page.url()).toBe(`${cluster.dashboardUrl}/`);
      await page.locator('#conn', { hasText: 'live' }).waitFor({ timeout: 60_000 });
      await page.locator('#workers tbody tr').nth(1).waitFor({ timeout: 60_000 });

      const futures = client.map((x: number) => x + 1, Array.from({ length: 600 }, (_, i) => i));
      expect(await client.gather(futures)).toHaveLength(600);
      const row = page.locator('#groups tbody tr');
      await waitFor(async () => (await row.locator('td[data-field="memory"]').allTextContents()).includes('600') || undefined, { what: 'the page to show 600 tasks in memory' });
      const done = row.filter({ has: page.locator('td[data-field="memory"]', { hasText: /^600$/ }) });
      for (const f of ['waiting', 'queued', 'processing', 'erred']) expect(await done.locator(`td[data-field="${f}"]`).textContent()).toBe('0');
      expect(Number(await done.locator('td[data-field="memory"]').textContent())).toBe((await client.schedulerInfo()).status.tasksInMemory);

      // Memory bars: a bar per worker with a managed segment once heartbeats report stored data.
      await waitFor(async () => ((await page.locator('#workers tbody tr .bar .managed').count()) === 2 ? true : undefined), { what: 'a managed-memory bar per worker' });
      expect(await page.locator('#workers tbody tr .bar[role="img"]').count()).toBe(2);

      const victim = (await client.schedulerInfo()).workers[0]!;
      process.kill(victim.pid!, 'SIGKILL');
      await page.locator('#events li[data-kind="worker-lost"]', { hasText: victim.name }).waitFor({ timeout: 60_000 });
      await waitFor(async () => ((await page.locator('#workers tbody tr').count()) === 1 ? true : undefined), { what: 'the lost worker to leave the table' });

      mkdirSync('test/e2e/screenshots', { recursive: true });
      await page.screenshot({ path: 'test/e2e/screenshots/cluster-dashboard.png', fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
