import { CONSOLE_CSS_EXTRA, CONSOLE_JS } from '../local/console/assets.gen.ts';
import { CONSOLE_CSP, CONSOLE_CSS, CONSOLE_HTML } from '../local/console/page.ts';
import { NotFoundError } from '../shared/core/errors.ts';
import type { Logger } from '../shared/core/logger.ts';
import { rawHandler } from './commons/api.ts';
import { readIdentityConfig } from './commons/config.ts';
import type { IdentityConfig } from './commons/identity.ts';
import { lazyHandler } from './commons/lazy.ts';
import { powertoolsLogger } from './commons/logger.ts';

/**
 * `GET /console/{asset}` (issue 16): the control-plane console's three static
 * assets, behind the API's own AWS_IAM authorizer and identity mapping. A
 * browser cannot sign a navigation, so people open the console through
 * `recc console`, a loopback proxy that signs every request (these assets
 * and the API calls the page makes) with their own AWS credentials: the
 * console sees and does exactly what the API lets that identity see and do
 * (docs/console.md). Served from the stage, so the page always matches the
 * API it calls. Touches nothing but its logs: no store, no SDK client.
 */
export const CONSOLE_ASSETS: Readonly<Record<string, readonly [string, string]>> = {
  'index.html': ['text/html; charset=utf-8', CONSOLE_HTML],
  'console.js': ['text/javascript; charset=utf-8', CONSOLE_JS],
  'console.css': ['text/css; charset=utf-8', CONSOLE_CSS + CONSOLE_CSS_EXTRA],
};

export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
};

export interface ConsoleAssetsDeps {
  identity: IdentityConfig;
  logger?: Logger;
}

export function makeHandler(deps: ConsoleAssetsDeps) {
  // The same identity mapping as every API route (401 without a principal, 403 for one no rule maps); log and error shape by middleware.
  return rawHandler(deps, 'consoleAssets', async ({ event, requestId }) => {
    const name = event.pathParameters?.asset ?? '';
    const asset = Object.hasOwn(CONSOLE_ASSETS, name) ? CONSOLE_ASSETS[name] : undefined;
    if (!asset) {
      throw new NotFoundError(`no console asset ${JSON.stringify(name.slice(0, 64))}`, { details: [{ path: 'asset', message: `must be one of ${Object.keys(CONSOLE_ASSETS).join(', ')}` }] });
    }
    return { statusCode: 200, headers: { ...CONSOLE_SECURITY_HEADERS, 'content-type': asset[0], 'x-request-id': requestId }, body: asset[1] };
  });
}

export const handler = lazyHandler(() => makeHandler({ identity: readIdentityConfig(process.env), logger: powertoolsLogger({ serviceName: 'recc-api' }) }));
