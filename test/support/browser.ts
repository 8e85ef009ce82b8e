/**
 * Browser tests: Debian's chromium driven by playwright-core, axe-core for
 * accessibility, frame timing with the page's performance API. Browser-side
 * code is written as strings (the project's TypeScript has no DOM types).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
}

export interface A11yViolation {
  id: string;
  impact: string;
  nodes: string[];
}

/** axe-core, run through the DevTools protocol (page.evaluate), so the page's strict CSP stays on. Returns the serious and critical violations. */
export async function seriousA11yViolations(page: Page): Promise<A11yViolation[]> {
  const source = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  return page.evaluate<A11yViolation[]>(`(async () => {
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  })()`);
}

export interface FrameSummary {
  frames: number;
  maxGapMs: number;
  p99GapMs: number;
  longestTaskMs: number;
}

/**
 * Records the gaps between animation frames (performance.now()) and the
 * page's long tasks (PerformanceObserver 'longtask': main-thread work of 50 ms
 * or more). The returned function stops and summarises.
 */
export async function recordFrames(page: Page): Promise<() => Promise<FrameSummary>> {
  await page.evaluate(`(() => {
    const f = (window.__frames = { gaps: [], last: performance.now(), on: true, longest: 0 });
    new PerformanceObserver((list) => { for (const e of list.getEntries()) f.longest = Math.max(f.longest, e.duration); }).observe({ type: 'longtask' });
    const loop = (t) => { if (!f.on) return; f.gaps.push(t - f.last); f.last = t; requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
  })()`);
  return () =>
    page.evaluate<FrameSummary>(`(() => {
      const f = window.__frames; f.on = false;
      const sorted = [...f.gaps].sort((a, b) => a - b);
      return { frames: sorted.length, maxGapMs: sorted[sorted.length - 1] ?? 0, p99GapMs: sorted[Math.floor(sorted.length * 0.99)] ?? 0, longestTaskMs: f.longest };
    })()`);
}

/** Pixels of a canvas that differ from its background colour (r, g, b). */
export function paintedPixels(page: Page, selector: string, background: [number, number, number]): Promise<number> {
  return page.evaluate<number>(`(() => {
    const c = document.querySelector(${JSON.stringify(selector)});
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (!(d[i] === ${background[0]} && d[i + 1] === ${background[1]} && d[i + 2] === ${background[2]})) n++;
    return n;
  })()`);
}
