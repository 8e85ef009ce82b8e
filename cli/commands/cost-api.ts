import { ReccError, ValidationError, type ErrorDetail } from '../../shared/core/errors.ts';
import type { CostsResult } from '../../control/costs.ts';

/**
 * `GET /costs` over HTTP for `recc cost` (loaded lazily by the command).
 * Against `recc up` it sends the optional bearer token; an API Gateway URL
 * needs SigV4 signing, which goes through the SDK's API client.
 */
export interface CostsRequest {
  apiUrl: string;
  token?: string;
  groupBy?: string;
  from?: string;
  to?: string;
}

/** An error answer of the API, with its type and details. */
export class CostsApiError extends ReccError {
  constructor(statusCode: number, type: string, message: string, details: ErrorDetail[]) {
    super(`${type}: ${message}`, { statusCode, details });
  }
}

export async function fetchCosts(request: CostsRequest): Promise<CostsResult> {
  const url = new URL('/costs', request.apiUrl);
  for (const key of ['groupBy', 'from', 'to'] as const) {
    const v = request[key];
    if (v !== undefined) url.searchParams.set(key, v);
  }
  let res: Response;
  try {
    res = await fetch(url, { headers: request.token ? { authorization: `Bearer ${request.token}` } : {}, signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new ReccError(`cannot reach the recc API at ${request.apiUrl} (is \`recc up\` running?)`, { statusCode: 503, cause: err });
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ReccError(`the recc API answered ${res.status} with something that is not JSON`, { statusCode: 502 });
  }
  if (!res.ok) {
    const e = (body as { error?: { type?: string; message?: string; details?: ErrorDetail[] } }).error ?? {};
    if (res.status === 400) throw new ValidationError(e.message ?? 'the request is invalid', e.details ?? []);
    throw new CostsApiError(res.status, e.type ?? 'Error', e.message ?? `HTTP ${res.status}`, e.details ?? []);
  }
  return (body as { costs: CostsResult }).costs;
}
