import { ConfigError, type ErrorDetail } from '../core/errors.ts';
import { getNumber, type Env } from '../core/env.ts';
import { DEFAULT_HARVEST_CONFIG, type HarvestConfig } from './types.ts';

/**
 * Harvester settings from the environment, read once at start-up. Every value
 * is in minutes and must be positive; a bad value fails fast with a
 * ConfigError that lists every problem.
 *
 * | variable | default |
 * |---|---|
 * | RECC_HARVEST_DEFAULT_IDLE_MINUTES | 30 |
 * | RECC_HARVEST_LEASE_MINUTES | 10 |
 * | RECC_HARVEST_UNREACHABLE_MINUTES | 10 |
 * | RECC_HARVEST_PROVISIONING_DEADLINE_MINUTES | 20 |
 * | RECC_HARVEST_DELETING_DEADLINE_MINUTES | 15 |
 * | RECC_HARVEST_SESSION_TIMEOUT_MINUTES | 10 (reply queues of SQS sessions without a heartbeat for this long are deleted) |
 */
export const HARVEST_ENV: Record<keyof HarvestConfig, string> = {
  defaultIdleTimeoutMinutes: 'RECC_HARVEST_DEFAULT_IDLE_MINUTES',
  leaseTimeoutMinutes: 'RECC_HARVEST_LEASE_MINUTES',
  schedulerUnreachableMinutes: 'RECC_HARVEST_UNREACHABLE_MINUTES',
  provisioningDeadlineMinutes: 'RECC_HARVEST_PROVISIONING_DEADLINE_MINUTES',
  deletingDeadlineMinutes: 'RECC_HARVEST_DELETING_DEADLINE_MINUTES',
  sessionTimeoutMinutes: 'RECC_HARVEST_SESSION_TIMEOUT_MINUTES',
};

export function harvestConfigFromEnv(env: Env): HarvestConfig {
  const details: ErrorDetail[] = [];
  const out = { ...DEFAULT_HARVEST_CONFIG };
  for (const key of Object.keys(HARVEST_ENV) as (keyof HarvestConfig)[]) {
    const name = HARVEST_ENV[key];
    try {
      out[key] = getNumber(env, name, DEFAULT_HARVEST_CONFIG[key] ?? 0);
    } catch (err) {
      if (err instanceof ConfigError) details.push(...err.details);
      else throw err;
      continue;
    }
    if (!((out[key] ?? 0) > 0)) details.push({ path: name, message: `must be a positive number of minutes, got ${out[key]}` });
  }
  if (details.length > 0) throw new ConfigError('invalid harvester configuration', details);
  return out;
}
