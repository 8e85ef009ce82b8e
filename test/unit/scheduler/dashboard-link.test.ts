import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { authorize } from '../../../scheduler/dashboard/auth.ts';
import { DASHBOARD_LINK_MAX_TTL_MS, dashboardLinkSignature, signedDashboardLink, verifyDashboardLink } from '../../../shared/engine/dashboard-link.ts';

const TOKEN = 'cluster-token-0123456789';
const req = (url: string): IncomingMessage => ({ url, method: 'GET', headers: {} }) as IncomingMessage;

describe('Signed dashboard links', () => {
  it('carry no token, open the dashboard until they expire, and are exchanged for the cookie without the link in the URL', () => {
    const now = 1_000_000;
    const link = signedDashboardLink('http://127.0.0.1:8787', TOKEN, now + 60_000);
    expect(link).not.toContain(TOKEN);
    const path = new URL(link).pathname + new URL(link).search;
    const d = authorize(req(path), TOKEN, () => now);
    expect(d.kind).toBe('exchange');
    expect(d.kind === 'exchange' && d.location).toBe('/');
    expect(authorize(req(path), TOKEN, () => now + 60_000).kind).toBe('deny');
  });

  it('refuses a forged, altered, other-cluster or too-long-lived signature', () => {
    const now = 5_000;
    const good = dashboardLinkSignature(TOKEN, now + 1_000);
    expect(verifyDashboardLink(good, TOKEN, now)).toBe(true);
    expect(verifyDashboardLink(good, 'another-cluster-token', now)).toBe(false);
    expect(verifyDashboardLink(good.replace(/.$/, (c) => (c === '0' ? '1' : '0')), TOKEN, now)).toBe(false);
    expect(verifyDashboardLink(`${now + 2_000}.${good.split('.')[1]}`, TOKEN, now)).toBe(false);
    expect(verifyDashboardLink(dashboardLinkSignature(TOKEN, now + DASHBOARD_LINK_MAX_TTL_MS + 1), TOKEN, now)).toBe(false);
    for (const junk of ['', '.', '__proto__', 'constructor.x', `${now + 1}.zz`, '9'.repeat(40)]) expect(verifyDashboardLink(junk, TOKEN, now)).toBe(false);
  });
});
