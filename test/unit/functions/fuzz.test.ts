import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { SPEC_FIELDS } from '../../../shared/spec/schema.ts';
import { makeApi, roleArn, userArn, type ApiCall } from '../../support/api-invoke.ts';

/**
 * Fuzz the API with random bodies, paths and query strings: it never answers
 * 5xx, and every 4xx carries the one error shape with at least one detail
 * whose path names a field of the request (a body key, a query parameter, a
 * path parameter, a spec field the merged spec got wrong, or `body`/`identity`
 * for the request as a whole).
 */
const ENVELOPE = ['template', 'name', 'job', 'clientToken', 'nWorkers'];
const WHOLE = ['body', 'id', 'identity', 'all', 'status', 'path'];

const jsonValue = fc.oneof(
  fc.integer({ min: -1000, max: 1_000_000 }),
  fc.double({ noNaN: false }),
  fc.string({ maxLength: 30 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null)), { maxKeys: 3 }),
);

/** Bodies that look like real requests (known keys, odd values) and bodies that do not. */
const fieldName = fc.oneof(fc.constantFrom(...SPEC_FIELDS, ...ENVELOPE), fc.string({ minLength: 1, maxLength: 12 }));
const objectBody = fc.dictionary(fieldName, jsonValue, { maxKeys: 6 });
const body = fc.oneof(
  { weight: 6, arbitrary: objectBody },
  { weight: 1, arbitrary: jsonValue },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => ({ raw: s })) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const id = fc.oneof(fc.constant('c-000001'), fc.constant('c-999999'), fc.string({ minLength: 1, maxLength: 70 }));
const query = fc.dictionary(fc.oneof(fc.constantFrom('all', 'status'), fc.string({ minLength: 1, maxLength: 6 })), fc.string({ maxLength: 12 }), { maxKeys: 2 });

const call = fc.record({
  route: fc.constantFrom(
    ['POST', '/clusters'],
    ['GET', '/clusters'],
    ['GET', '/clusters/{id}'],
    ['DELETE', '/clusters/{id}'],
    ['PATCH', '/clusters/{id}'],
    ['POST', '/clusters/{id}/heartbeat'],
    ['POST', '/estimates'],
    ['GET', '/templates'],
  ),
  id,
  body,
  query,
  arn: fc.constantFrom(userArn('alice'), roleArn('researcher', 'bob'), roleArn('recc-admin', 'ops'), 'arn:aws:iam::123456789012:root'),
});

function requestFields(value: unknown): Set<string> {
  const out = new Set<string>();
  if (value && typeof value === 'object' && !Array.isArray(value)) for (const k of Object.keys(value)) out.add(k);
  return out;
}

describe('API fuzz', () => {
  it('never answers 5xx and every 4xx names the offending field', async () => {
    // Prepare: one cluster that exists (alice's), so some ids hit a real record.
    const deps = {
      store: new InMemoryClusterStore(),
      queue: new InMemoryWorkQueue(),
      clock: new ManualClock(),
      ids: new SequentialIds(),
      logger: silentLogger,
    };
    const api = await makeApi(deps);
    const seeded = await api({ method: 'POST', path: '/clusters', body: { template: 'small' } });
    expect(seeded.statusCode).toBe(202);

    await fc.assert(
      fc.asyncProperty(call, async ({ route, id: rawId, body: rawBody, query: q, arn }) => {
        const [method, template] = route as [string, string];
        const path = template.replace('{id}', encodeURIComponent(rawId));
        const qs = new URLSearchParams(q).toString();
        const sent: ApiCall = {
          method,
          path: qs ? `${path}?${qs}` : path,
          arn,
          ...(rawBody === undefined ? {} : { body: rawBody && typeof rawBody === 'object' && 'raw' in rawBody ? String((rawBody as { raw: string }).raw) : rawBody }),
        };
        let reply;
        try {
          reply = await api(sent);
        } catch (err) {
          // A path that no route matches (e.g. an id with a "/") is API Gateway's 404, not ours.
          if (err instanceof Error && err.message.startsWith('no route')) return;
          throw err;
        }
        expect(reply.statusCode, JSON.stringify({ sent, reply: reply.body })).toBeLessThan(500);
        if (reply.statusCode >= 400) {
          const error = reply.body?.error;
          expect(Object.keys(reply.body)).toEqual(['error']);
          expect(typeof error.type).toBe('string');
          expect(typeof error.message).toBe('string');
          expect(error.details.length, JSON.stringify({ sent, error })).toBeGreaterThan(0);
          const known = new Set([...requestFields(rawBody), ...Object.keys(q), ...SPEC_FIELDS, ...ENVELOPE, ...WHOLE]);
          for (const d of error.details as { path: string; message: string }[]) {
            expect(d.path, JSON.stringify({ sent, error })).not.toBe('');
            expect(typeof d.message).toBe('string');
          }
          const named = (error.details as { path: string }[]).some((d) => known.has(d.path) || known.has(d.path.split('.')[0] ?? ''));
          expect(named, JSON.stringify({ sent, error })).toBe(true);
        }
      }),
      { numRuns: 1500, seed: 20261127 },
    );
  });
});
