import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../shared/core/errors.ts';
import { harvestConfigFromEnv } from '../../../shared/harvest/config.ts';
import { DEFAULT_HARVEST_CONFIG } from '../../../shared/harvest/types.ts';

describe('Function: harvestConfigFromEnv', () => {
  it('uses the documented defaults', () => {
    expect(harvestConfigFromEnv({})).toEqual({
      defaultIdleTimeoutMinutes: 30,
      leaseTimeoutMinutes: 10,
      schedulerUnreachableMinutes: 10,
      provisioningDeadlineMinutes: 20,
      deletingDeadlineMinutes: 15,
      sessionTimeoutMinutes: 10,
    });
    expect(harvestConfigFromEnv({})).toEqual(DEFAULT_HARVEST_CONFIG);
  });

  it('reads every value, fractions of a minute included', () => {
    expect(harvestConfigFromEnv({ RECC_HARVEST_DEFAULT_IDLE_MINUTES: '1', RECC_HARVEST_LEASE_MINUTES: ' 0.5 ' })).toMatchObject({
      defaultIdleTimeoutMinutes: 1,
      leaseTimeoutMinutes: 0.5,
    });
  });

  it('lists every invalid value in one ConfigError', () => {
    let error: unknown;
    try {
      harvestConfigFromEnv({ RECC_HARVEST_LEASE_MINUTES: 'soon', RECC_HARVEST_UNREACHABLE_MINUTES: '0' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).details).toEqual([
      { path: 'RECC_HARVEST_LEASE_MINUTES', message: 'expected a number, got "soon"' },
      { path: 'RECC_HARVEST_UNREACHABLE_MINUTES', message: 'must be a positive number of minutes, got 0' },
    ]);
  });
});
