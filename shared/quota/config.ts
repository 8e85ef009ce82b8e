import { z } from 'zod';
import { getOptionalString, type Env } from '../core/env.ts';
import { ConfigError, type ErrorDetail } from '../core/errors.ts';
import { scopeKey, type QuotaLimits, type QuotaLimitsByScope } from './limits.ts';
import { fromUnits, QUOTA_DIMENSIONS, toUnits, type QuotaDimension } from './usage.ts';

/**
 * Quota configuration: defaults and per-user / per-group overrides, read once
 * (`RECC_QUOTAS`, a JSON object) and validated with every problem named.
 *
 * ```json
 * {
 *   "defaults": { "user": { "maxClusters": 5, "maxVcpus": 256, "maxGpus": 4, "maxCostPerHour": 25 },
 *                 "group": { "maxVcpus": 1024 } },
 *   "users":    { "alice": { "maxGpus": 16 }, "bob": { "maxCostPerHour": null } },
 *   "groups":   { "rates": { "members": ["alice", "bob"], "maxCostPerHour": 60 } }
 * }
 * ```
 *
 * A user's limits are `users.<name>` over `defaults.user` over the built-in
 * defaults (`BUILT_IN_USER_DEFAULTS`), field by field; `null` means
 * unlimited. Each configured group has its limits over `defaults.group`
 * (built-in: unlimited). A cluster counts against its owner's user quota and
 * against every group the owner is a member of, and must fit all of them.
 */
export interface QuotaLimitsInput {
  maxClusters?: number | null;
  maxVcpus?: number | null;
  maxGpus?: number | null;
  maxCostPerHour?: number | null;
}

export interface QuotaConfigInput {
  defaults?: { user?: QuotaLimitsInput; group?: QuotaLimitsInput };
  users?: Record<string, QuotaLimitsInput>;
  groups?: Record<string, QuotaLimitsInput & { members: string[] }>;
}

/** Generous enough for real work, small enough to stop a runaway loop of creates. */
export const BUILT_IN_USER_DEFAULTS: Readonly<Required<QuotaLimitsInput>> = Object.freeze({
  maxClusters: 20,
  maxVcpus: 2000,
  maxGpus: 64,
  maxCostPerHour: 200,
});

const FIELD: Readonly<Record<QuotaDimension, keyof QuotaLimitsInput>> = Object.freeze({
  clusters: 'maxClusters',
  vcpus: 'maxVcpus',
  gpus: 'maxGpus',
  costPerHour: 'maxCostPerHour',
});

const NAME = /^[A-Za-z0-9_+=,.@-]{1,64}$/;
const NAME_MESSAGE = 'must be 1-64 characters A-Z a-z 0-9 _+=,.@-';

const count = z.number({ error: 'must be a whole number ≥ 0 or null (unlimited)' }).int('must be a whole number ≥ 0 or null (unlimited)').min(0, 'must be ≥ 0').max(1e9, 'must be at most 1e9');
const amount = z.number({ error: 'must be a number ≥ 0 or null (unlimited)' }).min(0, 'must be ≥ 0').max(1e9, 'must be at most 1e9');

const limitsSchema = z
  .object({
    maxClusters: count.nullable().optional(),
    maxVcpus: amount.nullable().optional(),
    maxGpus: count.nullable().optional(),
    maxCostPerHour: amount.nullable().optional(),
  })
  .strict();

const groupSchema = limitsSchema.extend({ members: z.array(z.string().regex(NAME, NAME_MESSAGE)).max(10_000) }).strict();

const topSchema = z
  .object({
    defaults: z.object({ user: limitsSchema.optional(), group: limitsSchema.optional() }).strict().optional(),
    users: z.unknown().optional(),
    groups: z.unknown().optional(),
  })
  .strict();

/** The validated quota policy: who counts against which scopes, and their limits. */
export class QuotaPolicy {
  private constructor(
    private readonly userDefaults: QuotaLimits,
    private readonly groupDefaults: QuotaLimits,
    private readonly users: ReadonlyMap<string, QuotaLimitsInput>,
    private readonly groups: ReadonlyMap<string, { limits: QuotaLimitsInput; members: ReadonlySet<string> }>,
  ) {}

  /** Validate `input` (e.g. parsed JSON); ConfigError naming every problem, paths prefixed with `root`. */
  static from(input: unknown, root = 'quotas'): QuotaPolicy {
    const details: ErrorDetail[] = [];
    const at = (path: readonly PropertyKey[]) => [root, ...path.map(String)].join('.');
    const top = topSchema.safeParse(input ?? {});
    if (!top.success) {
      for (const issue of top.error.issues) {
        const keys = (issue as { keys?: string[] }).keys;
        if (issue.code === 'unrecognized_keys' && keys) for (const k of keys) details.push({ path: at([...issue.path, k]), message: 'is not a known field (defaults, users, groups; maxClusters, maxVcpus, maxGpus, maxCostPerHour)' });
        else details.push({ path: at(issue.path), message: issue.message });
      }
      // Go on: the users and groups are checked too, so every problem is named at once.
    }
    const users = new Map<string, QuotaLimitsInput>();
    const groups = new Map<string, { limits: QuotaLimitsInput; members: ReadonlySet<string> }>();
    // Own entries of the raw objects, so keys such as "__proto__" or "constructor" are plain names.
    for (const [field, target] of [['users', users], ['groups', groups]] as const) {
      const raw = (input as Record<string, unknown>)[field];
      if (raw === undefined) continue;
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        details.push({ path: at([field]), message: `must be an object of name → ${field === 'users' ? 'limits' : 'limits and members'}` });
        continue;
      }
      for (const [name, value] of Object.entries(raw)) {
        if (!NAME.test(name)) details.push({ path: at([field, name]), message: `the name ${NAME_MESSAGE}` });
        const parsed = (field === 'users' ? limitsSchema : groupSchema).safeParse(value);
        if (!parsed.success) {
          for (const issue of parsed.error.issues) {
            const keys = (issue as { keys?: string[] }).keys;
            if (issue.code === 'unrecognized_keys' && keys) for (const k of keys) details.push({ path: at([field, name, ...issue.path, k]), message: 'is not a known field' });
            else details.push({ path: at([field, name, ...issue.path]), message: issue.message });
          }
          continue;
        }
        if (field === 'users') (target as typeof users).set(name, parsed.data);
        else {
          const { members, ...limits } = parsed.data as QuotaLimitsInput & { members: string[] };
          (target as typeof groups).set(name, { limits, members: new Set(members) });
        }
      }
    }
    if (details.length || !top.success) throw new ConfigError('the quota configuration is invalid', details);
    const defaults = top.data.defaults ?? {};
    return new QuotaPolicy(
      toLimits(merge(BUILT_IN_USER_DEFAULTS, defaults.user ?? {})),
      toLimits(defaults.group ?? {}),
      users,
      groups,
    );
  }

  /** The built-in defaults only. */
  static defaults(): QuotaPolicy {
    return QuotaPolicy.from({});
  }

  /** Whether `name` is a configured group (other settings that name groups check against it). */
  hasGroup(name: string): boolean {
    return this.groups.has(name);
  }

  /** The scopes a cluster of `user` counts against: the user, then each group the user is in (sorted). */
  scopesFor(user: string): string[] {
    const groups = [...this.groups].filter(([, g]) => g.members.has(user)).map(([name]) => name).sort();
    return [scopeKey('user', user), ...groups.map((g) => scopeKey('group', g))];
  }

  /** Limits (stored units) of a scope; a group that is not configured is unlimited. */
  limitsOf(scope: string): QuotaLimits {
    const at = scope.indexOf(':');
    const kind = scope.slice(0, at);
    const name = scope.slice(at + 1);
    if (kind === 'user') {
      const own = this.users.get(name);
      return own === undefined ? { ...this.userDefaults } : overlay(this.userDefaults, own);
    }
    const group = this.groups.get(name);
    return group === undefined ? {} : overlay(this.groupDefaults, group.limits);
  }

  /** Limits of every scope of `user`, as the store takes them. */
  limitsFor(user: string): QuotaLimitsByScope {
    return new Map(this.scopesFor(user).map((scope) => [scope, this.limitsOf(scope)]));
  }

  /** Limits of `scopes` (e.g. the scopes a record was charged to). */
  limitsOfScopes(scopes: readonly string[]): QuotaLimitsByScope {
    return new Map(scopes.map((scope) => [scope, this.limitsOf(scope)]));
  }

  /** Names of the configured groups (admins' view). */
  groupNames(): string[] {
    return [...this.groups.keys()].sort();
  }
}

/** `base` with `over`'s fields (a null in `over` removes the limit). */
function merge(base: QuotaLimitsInput, over: QuotaLimitsInput): QuotaLimitsInput {
  const out: QuotaLimitsInput = { ...base };
  for (const dimension of QUOTA_DIMENSIONS) {
    const field = FIELD[dimension];
    if (Object.hasOwn(over, field) && over[field] !== undefined) out[field] = over[field];
  }
  return out;
}

function toLimits(input: QuotaLimitsInput): QuotaLimits {
  const out: QuotaLimits = {};
  for (const dimension of QUOTA_DIMENSIONS) {
    const v = input[FIELD[dimension]];
    if (typeof v === 'number') out[dimension] = toUnits(dimension, v);
  }
  return out;
}

/** `base` (stored units) overlaid with `over` (shown units, null = unlimited). */
function overlay(base: QuotaLimits, over: QuotaLimitsInput): QuotaLimits {
  const shown: QuotaLimitsInput = {};
  for (const dimension of QUOTA_DIMENSIONS) {
    const v = base[dimension];
    if (v !== undefined) shown[FIELD[dimension]] = fromUnits(dimension, v);
  }
  return toLimits(merge(shown, over));
}

/** Read `RECC_QUOTAS` (JSON) once; unset = the built-in defaults. ConfigError naming every problem. */
export function quotaPolicyFromEnv(env: Env): QuotaPolicy {
  const raw = getOptionalString(env, 'RECC_QUOTAS');
  if (raw === undefined) return QuotaPolicy.defaults();
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw) as unknown;
  } catch (err) {
    throw new ConfigError('the quota configuration is invalid', [{ path: 'RECC_QUOTAS', message: `must be a JSON object (${(err as Error).message})` }]);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('the quota configuration is invalid', [{ path: 'RECC_QUOTAS', message: 'must be a JSON object with defaults, users and groups' }]);
  }
  return QuotaPolicy.from(parsed, 'RECC_QUOTAS');
}
