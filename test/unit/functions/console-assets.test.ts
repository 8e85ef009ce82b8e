import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { CONSOLE_ASSETS, makeHandler } from '../../../functions/console-assets.ts';
import { ROUTES, matchRoute } from '../../../functions/routes.ts';
import { toApiEvent } from '../../../local/api-server.ts';
import { TEST_IDENTITY, userArn } from '../../support/api-invoke.ts';

const context = { awsRequestId: 'req-1', functionName: 'consoleAssets', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

function get(path: string, arn: string | undefined) {
  const url = new URL(path, 'https://api.example');
  const found = matchRoute('GET', url.pathname);
  if (!found) throw new Error(`no route for ${path}`);
  const event = toApiEvent({ method: 'GET', url, headers: {}, body: Buffer.alloc(0), routeKey: `GET ${found.route.path}`, pathParameters: found.pathParameters, userArn: arn ?? '', requestId: 'req-1', sourceIp: '127.0.0.1', now: Date.UTC(2026, 0, 1) });
  // Without a signature API Gateway passes no IAM principal at all.
  if (arn === undefined) delete (event.requestContext as { authorizer?: unknown }).authorizer;
  return makeHandler({ identity: TEST_IDENTITY })(event, context) as Promise<{ statusCode: number; headers: Record<string, string>; body: string }>;
}

describe('Function: consoleAssets (GET /console/{asset})', () => {
  it('is one route of the API table', () => {
    expect(ROUTES.filter((r) => r.functionName === 'consoleAssets').map((r) => `${r.method} ${r.path}`)).toEqual(['GET /console/{asset}']);
  });

  it('serves the page, script and stylesheet with their content types and a strict CSP to a mapped user', async () => {
    const want: Record<string, RegExp> = { 'index.html': /^text\/html; charset=utf-8$/, 'console.js': /^text\/javascript; charset=utf-8$/, 'console.css': /^text\/css; charset=utf-8$/ };
    for (const [name, type] of Object.entries(want)) {
      const res = await get(`/console/${name}`, userArn('alice'));
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(type);
      expect(res.headers['content-security-policy']).toMatch(/^default-src 'none'; script-src 'self';/);
      expect(res.headers['content-security-policy']).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toBe(CONSOLE_ASSETS[name]![1]);
    }
    const page = await get('/console/index.html', userArn('alice'));
    expect(page.body).toMatch(/<script src="\/console\.js" defer><\/script>/);
    // No inline script: every <script> names its source.
    expect(page.body.match(/<script(?![^>]*\bsrc=)[^>]*>/g)).toBeNull();
  });

  it('answers 401 without an IAM principal and 403 to a principal no rule maps, and renders nothing', async () => {
    const anonymous = await get('/console/index.html', undefined);
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['content-type']).toBe('application/json');
    expect(anonymous.body).not.toMatch(/<html|<script/);
    const stranger = await get('/console/index.html', 'arn:aws:sts::999999999999:assumed-role/AWSReservedSSO_Researcher_0123456789abcdef/mallory');
    expect(stranger.statusCode).toBe(403);
    expect(stranger.headers['content-type']).toBe('application/json');
    expect(JSON.parse(stranger.body).error.message).toMatch(/not an allowed account/);
    expect(stranger.body).not.toMatch(/<html|<script/);
  });

  it('answers 404 naming the assets for any other name, including prototype keys', async () => {
    for (const name of ['secrets.json', '__proto__', 'constructor']) {
      const res = await get(`/console/${name}`, userArn('alice'));
      expect(res.statusCode).toBe(404);
      expect(JSON.parse(res.body).error.details).toEqual([{ path: 'asset', message: 'must be one of index.html, console.js, console.css' }]);
    }
  });
});
