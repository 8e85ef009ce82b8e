import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { browserCommand, openInBrowser, shouldOpen } from '../../../cli/open-browser.ts';
import { waitFor } from '../../support/wait.ts';

const URL_WITH_QUERY = 'http://127.0.0.1:8787/?exp=1&sig=abc';

describe('Opening links in a browser (recc cluster dashboard, recc console)', () => {
  const saved = process.env.BROWSER;
  afterEach(() => {
    if (saved === undefined) delete process.env.BROWSER;
    else process.env.BROWSER = saved;
  });

  it('uses $BROWSER when set, else the platform opener (cmd start with & escaped on Windows)', () => {
    expect(browserCommand(URL_WITH_QUERY, 'linux', { BROWSER: 'firefox' })).toEqual(['firefox', [URL_WITH_QUERY]]);
    expect(browserCommand(URL_WITH_QUERY, 'linux', {})).toEqual(['xdg-open', [URL_WITH_QUERY]]);
    expect(browserCommand(URL_WITH_QUERY, 'darwin', {})).toEqual(['open', [URL_WITH_QUERY]]);
    expect(browserCommand(URL_WITH_QUERY, 'win32', {})).toEqual(['cmd', ['/c', 'start', '""', 'http://127.0.0.1:8787/?exp=1^&sig=abc']]);
  });

  it('opens by default only for a person at a terminal; --open and --no-open decide otherwise', () => {
    expect(shouldOpen(undefined, false, true, {})).toBe(true);
    expect(shouldOpen(undefined, false, false, {})).toBe(false);
    expect(shouldOpen(undefined, true, true, {})).toBe(false);
    expect(shouldOpen(undefined, false, true, { CI: 'true' })).toBe(false);
    expect(shouldOpen(true, true, false, { CI: 'true' })).toBe(true);
    expect(shouldOpen(false, false, true, {})).toBe(false);
  });

  it('starts the opener with the link, and reports false (never throws) when there is none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'recc-browser-'));
    try {
      const got = join(dir, 'opened');
      const script = join(dir, 'fake-browser.sh');
      writeFileSync(script, `#!/bin/sh\nprintf '%s' "$1" > '${got}'\n`);
      chmodSync(script, 0o755);
      process.env.BROWSER = script;
      expect(await openInBrowser(URL_WITH_QUERY)).toBe(true);
      expect(await waitFor(() => { try { return readFileSync(got, 'utf8') || undefined; } catch { return undefined; } }, { timeoutMs: 30_000, what: 'the fake browser to record the link' })).toBe(URL_WITH_QUERY);
      process.env.BROWSER = join(dir, 'no-such-browser');
      expect(await openInBrowser(URL_WITH_QUERY)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
