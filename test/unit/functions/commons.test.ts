import { describe, expect, it, vi } from 'vitest';
import { callerFromIam } from '../../../functions/commons/identity.ts';
import { identityConfig, readApiConfig } from '../../../functions/commons/config.ts';
import { IdentityMappingError } from '../../../functions/commons/errors.ts';
import { apiDepsFromEnv } from '../../../functions/commons/deps.ts';
import { powertoolsLogger } from '../../../functions/commons/logger.ts';
import { errorResponse } from '../../../functions/commons/api.ts';
import { matchRoute, methodsForPath, ROUTES } from '../../../functions/routes.ts';
import { UnauthenticatedError } from '../../../control/errors.ts';
import { ConfigError, ValidationError } from '../../../shared/core/errors.ts';
import { createLogger } from '../../../shared/core/logger.ts';
import { BackendUnavailableError } from '../../../shared/ports/errors.ts';
import { statusesSince } from '../../../client/recc-cluster.ts';
import type { ClusterView } from '../../../shared/api/views.ts';

describe('Function: callerFromIam', () => {
  // The full mapping is tested in identity.test.ts; these are the cases the API relied on before issue 18.
  const config = identityConfig({
    allowedAccounts: ['123456789012'],
    adminRoleArns: ['arn:aws:iam::123456789012:role/recc-admin'],
    sourceIdentityRoles: ['arn:aws:iam::123456789012:role/recc-admin', 'arn:aws:iam::123456789012:role/other'],
  });

  it('makes a session of the configured admin role ARN an admin, and nothing else', () => {
    expect(callerFromIam({ userArn: 'arn:aws:sts::123456789012:assumed-role/recc-admin/ops' }, config)).toMatchObject({ user: 'ops', admin: true });
    expect(callerFromIam({ userArn: 'arn:aws:sts::123456789012:assumed-role/other/ops' }, config)).toMatchObject({ user: 'ops', admin: false });
    // An IAM user named like the admin role is neither an admin nor mapped by its name.
    expect(() => callerFromIam({ userArn: 'arn:aws:iam::123456789012:user/recc-admin' }, config)).toThrow(IdentityMappingError);
  });

  it('throws UnauthenticatedError naming identity when there is no principal', () => {
    const err = (() => {
      try {
        callerFromIam(undefined, config);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UnauthenticatedError);
    expect((err as UnauthenticatedError).statusCode).toBe(401);
    expect((err as UnauthenticatedError).details[0]?.path).toBe('identity');
  });
});

describe('Function: readApiConfig', () => {
  it('reads the table, queue, admins and endpoints', () => {
    expect(
      readApiConfig({
        TABLE_NAME: 't-1',
        QUEUE_NAME: 'q',
        RECC_ALLOWED_ACCOUNTS: '123456789012',
        RECC_ADMIN_ROLE_ARNS: ' arn:aws:iam::123456789012:role/a  arn:aws:iam::123456789012:role/b ',
        REGION: 'eu-west-1',
        DYNAMODB_TRANSACTIONS: 'false',
        LOG_LEVEL: 'debug',
      }),
    ).toEqual({
      tableName: 't-1',
      queueName: 'q',
      identity: expect.objectContaining({ allowedAccounts: ['123456789012'], adminRoleArns: ['arn:aws:iam::123456789012:role/a', 'arn:aws:iam::123456789012:role/b'] }),
      region: 'eu-west-1',
      transactions: false,
      logLevel: 'DEBUG',
    });
  });

  it('fails fast naming TABLE_NAME when it is missing', () => {
    expect(() => readApiConfig({})).toThrow(ConfigError);
  });
});

describe('Function: apiDepsFromEnv', () => {
  const base = { TABLE_NAME: 't-1', QUEUE_URL: 'http://127.0.0.1:1/queue/q', REGION: 'eu-west-1', TEMPLATES_DIR: 'templates', RECC_ALLOWED_ACCOUNTS: '123456789012' };

  it('reads the harvester config once so the API can tell when clusters are reaped', () => {
    const deps = apiDepsFromEnv({ ...base, RECC_HARVEST_LEASE_MINUTES: '3', RECC_HARVEST_DEFAULT_IDLE_MINUTES: '40' });
    expect(deps.harvest).toMatchObject({ leaseTimeoutMinutes: 3, defaultIdleTimeoutMinutes: 40 });
  });

  it('fails fast with a ConfigError naming the variable when a harvest setting is invalid', () => {
    const err = (() => {
      try {
        apiDepsFromEnv({ ...base, RECC_HARVEST_LEASE_MINUTES: '0' });
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).details.map((d) => d.path)).toEqual(['RECC_HARVEST_LEASE_MINUTES']);
  });
});

describe('Function: errorResponse', () => {
  it('shows a 4xx as it is and hides a 5xx behind a generic message with the request id', () => {
    const log = createLogger({ write: () => {} });
    const shown = errorResponse(new ValidationError('bad', [{ path: 'nWorkers', message: 'must be positive' }]), log, 'r-1');
    expect(shown).toEqual({ statusCode: 400, body: { error: { type: 'ValidationError', message: 'bad', details: [{ path: 'nWorkers', message: 'must be positive' }] } } });
    const hidden = errorResponse(new BackendUnavailableError('dynamodb at 10.0.0.1 timed out'), log, 'r-2');
    expect(hidden.statusCode).toBe(503);
    expect(hidden.body.error.type).toBe('BackendUnavailableError');
    expect(hidden.body.error.message).toContain('r-2');
    expect(hidden.body.error.message).not.toContain('10.0.0.1');
    expect(errorResponse(new TypeError('x is undefined'), log, 'r-3').body.error).toEqual({
      type: 'InternalError',
      message: expect.stringContaining('r-3'),
      details: [],
    });
  });
});

describe('Function: powertoolsLogger', () => {
  it('writes JSON with the child keys and redacts secret-looking fields', () => {
    const writes: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      const log = powertoolsLogger({ serviceName: 'recc-test' }).child({ requestId: 'r-9', user: 'alice' });
      log.info('hello', { clusterId: 'c-1', token: 'super-secret', connection: { token: 'also-secret', schedulerAddress: 'tcp://x:1' } });
    } finally {
      spy.mockRestore();
    }
    const line = writes.join('');
    const parsed = JSON.parse(line.trim().split('\n').at(-1) ?? '{}');
    expect(parsed).toMatchObject({ level: 'INFO', message: 'hello', service: 'recc-test', requestId: 'r-9', user: 'alice', clusterId: 'c-1' });
    expect(line).not.toContain('super-secret');
    expect(line).not.toContain('also-secret');
  });
});

describe('Function: matchRoute', () => {
  it('matches every route and extracts (decoded) path parameters', () => {
    for (const r of ROUTES) {
      const path = r.path.replace('{id}', 'c-1');
      expect(matchRoute(r.method, path)?.route).toBe(r);
    }
    expect(matchRoute('GET', '/clusters/c%2D7')?.pathParameters).toEqual({ id: 'c-7' });
    expect(matchRoute('GET', '/clusters/c-1/extra')).toBeUndefined();
    expect(methodsForPath('/clusters/c-1').sort()).toEqual(['DELETE', 'GET', 'PATCH']);
  });
});

describe('Function: statusesSince', () => {
  const view = (over: Partial<ClusterView>): ClusterView => ({ status: 'REQUESTED', ...over }) as ClusterView;

  it('fills in a status the poll missed, from the record\'s stamps', () => {
    expect(statusesSince('REQUESTED', view({ status: 'RUNNING', provisioningAt: 't1', runningAt: 't2' }))).toEqual(['PROVISIONING', 'RUNNING']);
    expect(statusesSince('RUNNING', view({ status: 'DELETED' }))).toEqual(['DELETING', 'DELETED']);
    expect(statusesSince('REQUESTED', view({ status: 'FAILED', provisioningAt: 't1' }))).toEqual(['PROVISIONING', 'FAILED']);
    expect(statusesSince('REQUESTED', view({ status: 'DELETING' }))).toEqual(['DELETING']);
  });

  it('reports the first status and nothing when unchanged', () => {
    expect(statusesSince(undefined, view({ status: 'REQUESTED' }))).toEqual(['REQUESTED']);
    expect(statusesSince('RUNNING', view({ status: 'RUNNING' }))).toEqual([]);
  });
});
