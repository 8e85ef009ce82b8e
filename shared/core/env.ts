import { ConfigError } from './errors.ts';

/**
 * Environment access helpers (modelled on Powertools' envUtils). Values are
 * trimmed; a required value that is missing fails fast with a ConfigError.
 * Config modules call these once at start-up and hand a typed object onward;
 * nothing else reads `process.env` directly.
 */
export type Env = Record<string, string | undefined>;

export function getString(env: Env, name: string, fallback?: string): string {
  const raw = env[name]?.trim();
  if (raw) return raw;
  if (fallback !== undefined) return fallback;
  throw new ConfigError(`missing required environment variable ${name}`, [{ path: name, message: 'is required' }]);
}

export function getOptionalString(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw ? raw : undefined;
}

export function getNumber(env: Env, name: string, fallback?: number): number {
  const raw = env[name]?.trim();
  if (!raw) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`missing required environment variable ${name}`, [{ path: name, message: 'is required' }]);
  }
  const n = Number(raw);
  if (!Number.isFinite(n)) {
    throw new ConfigError(`environment variable ${name} must be a number`, [{ path: name, message: `expected a number, got "${raw}"` }]);
  }
  return n;
}

export function getBoolean(env: Env, name: string, fallback = false): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`environment variable ${name} must be a boolean`, [{ path: name, message: `expected true/false, got "${raw}"` }]);
}
