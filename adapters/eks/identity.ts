import {
  AssociateAccessPolicyCommand,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  DescribeAccessEntryCommand,
  ListAccessEntriesCommand,
  ListAssociatedAccessPoliciesCommand,
  UpdateAccessEntryCommand,
  type AssociatedAccessPolicy,
  type EKSClient,
} from '@aws-sdk/client-eks';
import type { Logger } from '../../shared/core/logger.ts';
import { retry, type BackoffPolicy } from '../../shared/core/retry.ts';
import { EksAccessEntryRefusedError, EksAwsError } from './errors.ts';
import type { KubeClients } from './kube.ts';
import { KeyedMutex, listClusterNamespaces } from './live.ts';
import { userEditKubernetesGroup, userKubernetesGroup, userRoleArn } from './manifests/naming.ts';

/**
 * Identity mapping: AD user → IAM role → Kubernetes group, with EKS access
 * entries (see README "EKS backend" for why not the aws-auth ConfigMap).
 *
 * The user's IAM role gets one access entry whose Kubernetes group is bound
 * (RoleBinding) to a Role inside each of the user's cluster namespaces, and
 * the EKS access policy association is scoped to exactly the user's live
 * namespaces. Both are recomputed from the live namespaces on every change,
 * so concurrent creates and deletes converge; the entry is deleted when the
 * user has no live cluster left.
 *
 * `--edit` (adapters/eks/edit-access.ts): the entry also carries the user's
 * edit group exactly while one of their live namespaces is marked as granted
 * edit; that namespace's RoleBinding is the only one naming the group. The
 * group is recomputed on the same occasions as the scope, so a teardown and
 * the harvester's sweep take it away with the last edit namespace.
 */
export interface IdentityConfig {
  clusterName: string;
  /** e.g. `arn:aws:iam::123456789012:role/recc-user-{owner}`. */
  userRoleArnTemplate: string;
  /** @default 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy' */
  accessPolicyArn?: string;
  /** @default 'recc:user:' */
  kubernetesGroupPrefix?: string;
}

export const DEFAULT_ACCESS_POLICY_ARN = 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy';

/** What one reconcile of a user's access changed. */
export type AccessChange = 'unchanged' | 'created' | 'rescoped' | 'deleted' | 'absent';

/** The tag that marks an access entry as recc's own (set at create). */
export const MANAGED_TAG = 'recc.io/managed-by';

/** A regular expression matching the ARNs the template yields, capturing the owner fragment. */
export function principalPattern(template: string): RegExp {
  const [head, ...rest] = template.split('{owner}');
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escape(head ?? '')}${rest.map((part) => `([a-z0-9-]+)${escape(part)}`).join('')}$`);
}

/**
 * EKS errors that clear by themselves: request throttling (EKS API
 * Reference, "Common Errors": ThrottlingException, and the SDK's generic
 * throttling names) and ServerException (500, listed for every access-entry
 * action). A 500 does not say whether the call was served: every call here
 * is safe to repeat (Associate and Update replace, Describe and List read),
 * and a repeated Create or Delete that meets its own effect
 * (ResourceInUseException, ResourceNotFoundException) is taken as done by
 * the callers below.
 */
const EKS_RETRYABLE = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'ServerException', 'ServiceUnavailableException']);
/** ~25 s worst case over 10 attempts, full jitter (AWS's advice for throttling); the SDK's own 3 attempts come first in production. */
export const EKS_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 100, maxMs: 5_000, factor: 2, jitter: 'full' });
const EKS_ATTEMPTS = 10;

export class AccessEntries {
  private readonly mutex = new KeyedMutex();

  constructor(
    private readonly eks: EKSClient,
    private readonly kube: KubeClients,
    private readonly config: IdentityConfig,
    private readonly logger: Logger,
  ) {}

  /**
   * `eks.send` retried through throttling and server errors. `answerLost`
   * (when given) is set when a ServerException was retried: the call may have
   * been served, so "already done" on the retry is this call's own effect.
   */
  private send<T>(command: unknown, what: string, answerLost?: { value: boolean }): Promise<T> {
    return retry(() => this.eks.send(command as never) as Promise<T>, {
      ...EKS_BACKOFF,
      attempts: EKS_ATTEMPTS,
      retryIf: (err) => EKS_RETRYABLE.has((err as Error)?.name ?? ''),
      onRetry: (err, attempt, delayMs) => {
        if ((err as Error)?.name === 'ServerException' && answerLost) answerLost.value = true;
        this.logger.debug('eks call retried', { what, attempt, delayMs, error: (err as Error)?.name });
      },
    });
  }

  principalArn(owner: string): string {
    return userRoleArn(this.config.userRoleArnTemplate, owner);
  }

  /**
   * Make the user's access match their live namespaces (none → no access entry).
   * `including`: namespaces about to be created (apply grants access first, so a
   * refused access entry leaves no objects behind; issue 22 #8).
   */
  async reconcile(owner: string, including: string[] = []): Promise<AccessChange> {
    return this.mutex.run(owner, async () => {
      let change: AccessChange = 'unchanged';
      for (let round = 0; round < 10; round += 1) {
        const live = await this.liveNamespaces(owner);
        const namespaces = [...new Set([...live.namespaces, ...including])].sort();
        const step = await this.apply(owner, namespaces, live.edit);
        if (step !== 'unchanged') change = step;
        const again = await this.liveNamespaces(owner);
        const after = [...new Set([...again.namespaces, ...including])].sort();
        if (after.join(',') === namespaces.join(',') && again.edit === live.edit) return change;
      }
      return change;
    });
  }

  /**
   * The harvester's sweep (issue 21 #3): every access entry recc made (its
   * ARN fits the role template and it carries recc's managed-by tag) is
   * reconciled against the live namespaces, so an entry whose user has no
   * live cluster left is deleted and a scope naming namespaces that are gone
   * is narrowed. A teardown that stopped between deleting the namespace and
   * recomputing the access (a Lambda timeout, a crash), or a namespace
   * deleted by hand, leaves exactly such grants. Entries of other principals
   * (the control-plane roles, admins) never fit the template and are not
   * touched; a fitting entry without recc's tag is not ours either.
   * Level-triggered: a second sweep on the same state writes nothing.
   */
  async sweep(): Promise<Array<{ owner: string; principalArn: string; change: AccessChange }>> {
    const pattern = principalPattern(this.config.userRoleArnTemplate);
    const principals: string[] = [];
    let nextToken: string | undefined;
    do {
      let page;
      try {
        page = await this.send<{ accessEntries?: string[]; nextToken?: string }>(new ListAccessEntriesCommand({ clusterName: this.config.clusterName, ...(nextToken ? { nextToken } : {}) }), 'list access entries');
      } catch (err) {
        throw new EksAwsError('listing the access entries failed', { cause: err });
      }
      for (const arn of page.accessEntries ?? []) if (pattern.test(arn)) principals.push(arn);
      nextToken = page.nextToken;
    } while (nextToken);
    const changes: Array<{ owner: string; principalArn: string; change: AccessChange }> = [];
    for (const principalArn of principals) {
      const owner = await this.managedOwner(principalArn);
      // The tag names the owner; the ARN must be the one the template gives that owner, so a
      // hand-edited tag cannot make the sweep reconcile (and delete) someone else's entry.
      if (owner === undefined || this.principalArn(owner) !== principalArn) continue;
      const change = await this.reconcile(owner);
      if (change !== 'unchanged' && change !== 'absent') {
        changes.push({ owner, principalArn, change });
        this.logger.info('orphaned access grant reconciled', { owner, principalArn, change });
      }
    }
    return changes;
  }

  /** The owner recc tagged an entry with; undefined when it is not recc's (or is gone already). */
  private async managedOwner(principalArn: string): Promise<string | undefined> {
    try {
      const out = await this.send<{ accessEntry?: { tags?: Record<string, string> } }>(new DescribeAccessEntryCommand({ clusterName: this.config.clusterName, principalArn }), 'describe access entry');
      const tags = out.accessEntry?.tags ?? {};
      return tags[MANAGED_TAG] === 'recc' && tags.user ? tags.user : undefined;
    } catch (err) {
      if ((err as Error).name === 'ResourceNotFoundException') return undefined;
      throw new EksAwsError(`reading the access entry ${principalArn} failed`, { cause: err });
    }
  }

  /** The user's live namespaces, and whether any of them was granted edit. */
  private async liveNamespaces(owner: string): Promise<{ namespaces: string[]; edit: boolean }> {
    const mine = (await listClusterNamespaces(this.kube)).filter((c) => c.live && c.owner === owner);
    return { namespaces: mine.map((c) => c.namespace).sort(), edit: mine.some((c) => c.edit === true) };
  }

  /** The Kubernetes groups the user's entry should carry. */
  private groupsFor(owner: string, edit: boolean): string[] {
    const prefix = this.config.kubernetesGroupPrefix;
    return [userKubernetesGroup(owner, prefix), ...(edit ? [userEditKubernetesGroup(owner, prefix)] : [])];
  }

  private async apply(owner: string, namespaces: string[], edit = false): Promise<AccessChange> {
    const clusterName = this.config.clusterName;
    const principalArn = this.principalArn(owner);
    if (namespaces.length === 0) {
      const answerLost = { value: false };
      try {
        await this.send(new DeleteAccessEntryCommand({ clusterName, principalArn }), 'delete access entry', answerLost);
        this.logger.info('access entry deleted', { owner, principalArn });
        return 'deleted';
      } catch (err) {
        if ((err as Error).name !== 'ResourceNotFoundException') throw new EksAwsError(`deleting the access entry of ${owner} failed`, { cause: err });
        // Gone on a retry after a server error: our own delete was served.
        return answerLost.value ? 'deleted' : 'absent';
      }
    }
    const policyArn = this.config.accessPolicyArn ?? DEFAULT_ACCESS_POLICY_ARN;
    const current = await this.associations(principalArn);
    const groups = this.groupsFor(owner, edit);
    const regrouped = current ? await this.ensureGroups(owner, principalArn, groups) : false;
    if (current) {
      const scope = current.find((p) => p.policyArn === policyArn)?.accessScope;
      const same = scope?.type === 'namespace' && [...(scope.namespaces ?? [])].sort().join(',') === namespaces.join(',');
      if (same) return regrouped ? 'rescoped' : 'unchanged'; // already exactly right: no write
    }
    if (!current) await this.createEntry(owner, principalArn, groups);
    try {
      await this.send(
        new AssociateAccessPolicyCommand({
          clusterName,
          principalArn,
          policyArn,
          accessScope: { type: 'namespace', namespaces },
        }),
        'associate access policy',
      );
    } catch (err) {
      throw new EksAwsError(`scoping the access of ${owner} to their namespaces failed`, { cause: err });
    }
    return current ? 'rescoped' : 'created';
  }

  /** The entry's policy associations, or undefined when the entry does not exist. */
  private async associations(principalArn: string): Promise<AssociatedAccessPolicy[] | undefined> {
    try {
      const out = await this.send<{ associatedAccessPolicies?: AssociatedAccessPolicy[] }>(new ListAssociatedAccessPoliciesCommand({ clusterName: this.config.clusterName, principalArn }), 'list associated access policies');
      return out.associatedAccessPolicies ?? [];
    } catch (err) {
      if ((err as Error).name === 'ResourceNotFoundException') return undefined;
      if ((err as Error).name === 'InvalidRequestException' && /authentication mode/i.test((err as Error).message)) {
        throw new EksAccessEntryRefusedError(
          `EKS refused access for ${principalArn}: the cluster ${this.config.clusterName} uses authentication mode CONFIG_MAP; access entries need API or API_AND_CONFIG_MAP (aws eks update-cluster-config --access-config authenticationMode=API_AND_CONFIG_MAP)`,
          { cause: err },
        );
      }
      throw new EksAwsError(`reading the access entry ${principalArn} failed`, { cause: err });
    }
  }

  /**
   * Make the entry's Kubernetes groups exactly `groups` (UpdateAccessEntry
   * replaces the list). True when it wrote. A group recc does not derive
   * for this owner (added by hand) is dropped too: the entry is recc's.
   */
  private async ensureGroups(owner: string, principalArn: string, groups: string[]): Promise<boolean> {
    const clusterName = this.config.clusterName;
    let have: string[];
    try {
      const out = await this.send<{ accessEntry?: { kubernetesGroups?: string[] } }>(new DescribeAccessEntryCommand({ clusterName, principalArn }), 'describe access entry');
      have = out.accessEntry?.kubernetesGroups ?? [];
    } catch (err) {
      if ((err as Error).name === 'ResourceNotFoundException') return false;
      throw new EksAwsError(`reading the access entry of ${owner} failed`, { cause: err });
    }
    if ([...have].sort().join('\n') === [...groups].sort().join('\n')) return false;
    try {
      await this.send(new UpdateAccessEntryCommand({ clusterName, principalArn, kubernetesGroups: groups }), 'update access entry');
    } catch (err) {
      throw new EksAwsError(`updating the Kubernetes groups of ${owner} failed`, { cause: err });
    }
    this.logger.info('access entry groups updated', { owner, principalArn, kubernetesGroups: groups });
    return true;
  }

  private async createEntry(owner: string, principalArn: string, groups: string[]): Promise<void> {
    const clusterName = this.config.clusterName;
    try {
      await this.send(
        new CreateAccessEntryCommand({
          clusterName,
          principalArn,
          kubernetesGroups: groups,
          type: 'STANDARD',
          tags: { user: owner, [MANAGED_TAG]: 'recc' },
        }),
        'create access entry',
      );
      this.logger.info('access entry created', { owner, principalArn });
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'ResourceInUseException') return;
      // Permanent: no retry creates the IAM role or changes the cluster's authentication mode.
      if (name === 'InvalidParameterException' && /principal/i.test((err as Error).message)) {
        throw new EksAccessEntryRefusedError(`EKS refused access for ${owner}: the IAM role ${principalArn} does not exist (create it, or fix RECC_EKS_USER_ROLE_ARN_TEMPLATE)`, { cause: err });
      }
      if (name === 'InvalidRequestException' && /authentication mode/i.test((err as Error).message)) {
        throw new EksAccessEntryRefusedError(`EKS refused access for ${owner}: the cluster ${clusterName} uses authentication mode CONFIG_MAP; access entries need API or API_AND_CONFIG_MAP (aws eks update-cluster-config --access-config authenticationMode=API_AND_CONFIG_MAP)`, { cause: err });
      }
      throw new EksAwsError(`creating the access entry of ${owner} failed`, { cause: err });
    }
  }
}
