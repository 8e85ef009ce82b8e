import { describe, expect, it } from 'vitest';
import { ValidationError, formatErrorForHumans } from '../../../shared/core/errors.ts';
import { DefinitionValidationError } from '../../../shared/definition/errors.ts';

describe('Function: formatErrorForHumans', () => {
  it('prints the message and then one line per detail', () => {
    // Prepare
    const err = new ValidationError('invalid cluster spec: 2 problems', [
      { path: 'nWorkers', message: 'must be a positive whole number (got -3)' },
      { path: 'region', message: 'unknown region' },
    ]);

    // Act
    const text = formatErrorForHumans(err);

    // Assess
    expect(text.split('\n')).toEqual([
      'invalid cluster spec: 2 problems',
      '  - nWorkers: must be a positive whole number (got -3)',
      '  - region: unknown region',
    ]);
  });

  it('prints each problem once when the message already ends with its details', () => {
    // Prepare
    const err = new DefinitionValidationError([
      { path: 'clusterId', message: 'must be a DNS label' },
      { path: 'owner', message: 'is required' },
    ]);

    // Act
    const text = formatErrorForHumans(err);

    // Assess
    expect(err.message).toBe('cannot render the cluster definition: clusterId: must be a DNS label; owner: is required');
    expect(text.split('\n')).toEqual(['cannot render the cluster definition', '  - clusterId: must be a DNS label', '  - owner: is required']);
  });

  it('keeps a message that only mentions some of its details in full', () => {
    // Prepare
    const err = new ValidationError('bad: owner: is required', [
      { path: 'clusterId', message: 'must be a DNS label' },
      { path: 'owner', message: 'is required' },
    ]);

    // Act
    const text = formatErrorForHumans(err);

    // Assess
    expect(text.split('\n')[0]).toBe('bad: owner: is required');
  });
});

describe('Function: redact (errors)', () => {
  it('keeps the status, details and cause chain of an error and still redacts secret keys inside them', async () => {
    // Prepare
    const { redact } = await import('../../../shared/core/logger.ts');
    const { BackendUnavailableError } = await import('../../../shared/ports/errors.ts');
    const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8000'), { code: 'ECONNREFUSED' });
    const err = new BackendUnavailableError('the store is unavailable', { cause: root });
    const withSecret = new ValidationError('bad', [{ path: 'token', message: 'is wrong' }]);

    // Act
    const out = redact({ error: err, other: { token: 'abc', nested: withSecret } }) as Record<string, any>;

    // Assess
    expect(out.error).toMatchObject({
      name: 'BackendUnavailableError',
      message: 'the store is unavailable',
      statusCode: err.statusCode,
      cause: { name: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:8000', code: 'ECONNREFUSED' },
    });
    expect(out.other.token).toBe('[redacted]');
    expect(out.other.nested.details).toEqual([{ path: 'token', message: 'is wrong' }]);
    expect(JSON.stringify(out)).not.toContain('abc');
  });
});
