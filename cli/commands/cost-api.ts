import { ApiClient } from '../../client/api-client.ts';
import type { CostsResult } from '../../control/costs.ts';
import { clientOptions } from './cluster-actions.ts';

/**
 * `GET /costs` for `recc cost` (loaded lazily by the command), through the
 * SDK's API client: SigV4 for an API Gateway URL, the bearer token for a
 * local stack started with one. The API URL and token come from the flags,
 * then RECC_API_URL / RECC_API_TOKEN, then `~/.recc/config.json`, as for
 * `recc cluster`.
 */
export interface CostsRequest {
  api?: string;
  token?: string;
  groupBy?: string;
  from?: string;
  to?: string;
}

export async function fetchCosts(request: CostsRequest): Promise<CostsResult> {
  const client = new ApiClient(clientOptions({ ...(request.api ? { api: request.api } : {}), ...(request.token ? { token: request.token } : {}) }));
  const q = new URLSearchParams();
  for (const key of ['groupBy', 'from', 'to'] as const) {
    const v = request[key];
    if (v !== undefined) q.set(key, v);
  }
  const qs = q.toString();
  return (await client.request<{ costs: CostsResult }>('GET', `/costs${qs ? `?${qs}` : ''}`)).costs;
}
