import { ValidationError } from '../shared/core/errors.ts';
import type { ClusterStore } from '../shared/ports/cluster-store.ts';
import { QuotaPolicy } from '../shared/quota/config.ts';
import { quotaReport, type QuotaReport } from '../shared/quota/report.ts';
import type { Caller } from './clusters.ts';
import { ForbiddenError } from './errors.ts';

export interface QuotaServiceDeps {
  store: ClusterStore;
  /** @default QuotaPolicy.defaults() */
  quotas?: QuotaPolicy;
}

const USER_NAME = /^[A-Za-z0-9_+=,.@-]{1,64}$/;

/**
 * `recc quota` / `GET /quota`: the caller's quotas (user and groups) and the
 * usage the store holds for each, read consistently. Admins may ask for any
 * user; anyone else only for themselves (403 otherwise).
 */
export class QuotaService {
  private readonly store: ClusterStore;
  private readonly quotas: QuotaPolicy;

  constructor(deps: QuotaServiceDeps) {
    this.store = deps.store;
    this.quotas = deps.quotas ?? QuotaPolicy.defaults();
  }

  async show(caller: Caller, options: { user?: string } = {}): Promise<QuotaReport> {
    const user = options.user ?? caller.user;
    if (!USER_NAME.test(user)) throw new ValidationError('invalid user', [{ path: 'user', message: 'must be 1-64 characters A-Z a-z 0-9 _+=,.@-' }]);
    if (user !== caller.user && !caller.admin) {
      throw new ForbiddenError("reading another user's quota needs an admin role", [{ path: 'user', message: 'only admins may read the quota of another user' }]);
    }
    const scopes = this.quotas.scopesFor(user);
    return quotaReport(user, this.quotas, await this.store.usage(scopes));
  }
}
