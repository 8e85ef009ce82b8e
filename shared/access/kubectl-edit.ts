import { getOptionalString, type Env } from '../core/env.ts';
import { ConfigError, type ErrorDetail } from '../core/errors.ts';
import type { QuotaPolicy } from '../quota/config.ts';
import { scopeKey } from '../quota/limits.ts';

/**
 * Who may ask for kubectl `--edit` on their own clusters (issue 21 #3):
 * `recc cluster kubeconfig ID --edit` lets the cluster's owner exec into
 * and delete the pods of that cluster's namespace. Read once at start from
 * `RECC_KUBECTL_EDIT` (the stage parameter `kubectlEdit`), validated, fail
 * fast. Entries are separated by spaces or commas:
 *
 * | entry | who |
 * |---|---|
 * | `alice` | the user alice |
 * | `group:research` | every member of the group `research` of `RECC_QUOTAS` (the one place groups are defined) |
 * | `*` | every user |
 *
 * Unset or empty: nobody; kubectl stays read-only for everyone. Pure.
 */
export const KUBECTL_EDIT_ENV = 'RECC_KUBECTL_EDIT';

const NAME = /^[A-Za-z0-9_+=,.@-]{1,64}$/;

export class KubectlEditPolicy {
  private constructor(
    private readonly everyone: boolean,
    private readonly users: ReadonlySet<string>,
    private readonly groups: ReadonlySet<string>,
  ) {}

  /** Nobody may have edit (the default). */
  static none(): KubectlEditPolicy {
    return new KubectlEditPolicy(false, new Set(), new Set());
  }

  /**
   * Validate entries (as listed above); ConfigError naming every bad one as
   * `<path>[i]`. Groups must exist in `quotas`, so a typo fails at start
   * instead of silently allowing nobody.
   */
  static from(entries: readonly string[], quotas: Pick<QuotaPolicy, 'hasGroup'>, path = KUBECTL_EDIT_ENV): KubectlEditPolicy {
    const details: ErrorDetail[] = [];
    const users = new Set<string>();
    const groups = new Set<string>();
    let everyone = false;
    entries.forEach((entry, i) => {
      const at = `${path}[${i}]`;
      if (entry === '*') everyone = true;
      else if (entry.startsWith('group:')) {
        const name = entry.slice('group:'.length);
        if (!NAME.test(name)) details.push({ path: at, message: `group name ${JSON.stringify(name)} must be 1-64 characters A-Z a-z 0-9 _+=.@-` });
        else if (!quotas.hasGroup(name)) details.push({ path: at, message: `group ${JSON.stringify(name)} is not a group of RECC_QUOTAS (groups and their members are defined there)` });
        else groups.add(name);
      } else if (!NAME.test(entry)) {
        details.push({ path: at, message: `${JSON.stringify(entry)} is not a user name (1-64 characters A-Z a-z 0-9 _+=.@-), group:NAME or *` });
      } else users.add(entry);
    });
    if (everyone && entries.length > 1) details.push({ path, message: '"*" already allows every user; list nothing else beside it' });
    if (details.length > 0) throw new ConfigError(`${path} is invalid`, details);
    return new KubectlEditPolicy(everyone, users, groups);
  }

  /** Whether `user` may have edit; `quotas` tells the user's groups. */
  allows(user: string, quotas: Pick<QuotaPolicy, 'scopesFor'>): boolean {
    if (this.everyone || this.users.has(user)) return true;
    if (this.groups.size === 0) return false;
    const scopes = new Set(quotas.scopesFor(user));
    return [...this.groups].some((g) => scopes.has(scopeKey('group', g)));
  }

  /** For messages: who is allowed, in words. */
  describe(): string {
    if (this.everyone) return 'every user';
    const who = [...[...this.users].sort(), ...[...this.groups].sort().map((g) => `members of ${g}`)];
    return who.length === 0 ? 'nobody (RECC_KUBECTL_EDIT is empty)' : who.join(', ');
  }
}

/** Read `RECC_KUBECTL_EDIT` once; ConfigError naming every bad entry. */
export function kubectlEditPolicyFromEnv(env: Env, quotas: Pick<QuotaPolicy, 'hasGroup'>): KubectlEditPolicy {
  const raw = getOptionalString(env, KUBECTL_EDIT_ENV);
  if (raw === undefined) return KubectlEditPolicy.none();
  // Commas separate entries (user names allow them in IAM, but recc user names from sessions never carry one).
  return KubectlEditPolicy.from(raw.split(/[\s,]+/).filter(Boolean), quotas);
}
