import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { renderTarget, TARGETS } from '../../../web/build.ts';
import { CONSOLE_CSP } from '../../../local/console/page.ts';
import { CONTENT_SECURITY_POLICY } from '../../../scheduler/dashboard/page.ts';

/**
 * The browser bundles are built by esbuild from TypeScript (web/build.ts) and
 * committed as generated modules: they must match their sources, stay small,
 * and need nothing the strict CSP forbids.
 */
describe('Web bundles', () => {
  it.each(TARGETS)('$out is what esbuild builds from $entry (run npm run build:web)', async (t) => {
    expect(readFileSync(t.out, 'utf8')).toBe(await renderTarget(t));
  }, 60_000);

  it('stay small, with uPlot inside the console bundle and no network origin anywhere', async () => {
    const sizes: Record<string, number> = {};
    for (const t of TARGETS) {
      const mod = (await import(`../../../${t.out}`)) as Record<string, string>;
      const js = mod[t.name] as string;
      sizes[t.name] = gzipSync(js).length;
      // No CDN, no eval: the CSP is script-src 'self' only.
      expect(js).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
      expect(js).not.toMatch(/\beval\(|new Function\(/);
    }
    expect(sizes.DASHBOARD_JS).toBeLessThan(8_000);
    expect(sizes.CONSOLE_JS).toBeLessThan(40_000);
    const { CONSOLE_JS } = await import('../../../local/console/assets.gen.ts');
    expect(CONSOLE_JS).toContain('uplot');
    for (const csp of [CONSOLE_CSP, CONTENT_SECURITY_POLICY]) expect(csp).toMatch(/script-src 'self';/);
  });
});
