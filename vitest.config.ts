import { defineConfig } from 'vitest/config';

// Unit tests run in parallel threads. e2e tests start real processes and
// servers; they run in forks with generous timeouts (2-core CI machine).
const BROWSER_TESTS = ['test/e2e/dashboard/browser.test.ts', 'test/e2e/console/console.test.ts'];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['test/unit/**/*.test.ts', '**/*.unit.test.ts'],
          exclude: ['node_modules/**'],
          env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          exclude: ['node_modules/**', ...BROWSER_TESTS],
          env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
          pool: 'forks',
          maxWorkers: 2,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The browser tests assert the page stays responsive (frame gaps, long
        // tasks). On 2 cores, a parallel integration file starving chromium
        // measured the neighbour, not the page: they run last, one at a time.
        test: {
          name: 'browser',
          sequence: { groupOrder: 2 },
          include: BROWSER_TESTS,
          env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
          pool: 'forks',
          maxWorkers: 1,
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
