import {
  AssociateAccessPolicyCommand,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  ListAssociatedAccessPoliciesCommand,
  type AssociatedAccessPolicy,
  type EKSClient,
} from '@aws-sdk/client-eks';
import type { Logger } from '../../shared/core/logger.ts';
import { EksAccessEntryRefusedError, EksAwsError } from './errors.ts';
import type { KubeClients } from './kube.ts';
import { KeyedMutex, listClusterNamespaces } from './live.ts';
import { userKubernetesGroup, userRoleArn } from './manifests/naming.ts';

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

export class AccessEntries {
  private readonly mutex = new KeyedMutex();

  constructor(
    private readonly eks: EKSClient,
    private readonly kube: KubeClients,
    private readonly config: IdentityConfig,
    private readonly logger: Logger,
  ) {}

  principalArn(owner: string): string {
    return userRoleArn(this.config.userRoleArnTemplate, owner);
  }

  /**
   * Make the user's access match their live namespaces (none → no access entry).
   * `including`: namespaces about to be created (apply grants access first, so a
   * refused access entry leaves no objects behind; issue 22 #8).
   */
  async reconcile(owner: string, including: string[] = []): Promise<void> {
    await this.mutex.run(owner, async () => {
      for (let round = 0; round < 10; round += 1) {
        const namespaces = [...new Set([...(await this.liveNamespaces(owner)), ...including])].sort();
        await this.apply(owner, namespaces);
        const after = [...new Set([...(await this.liveNamespaces(owner)), ...including])].sort();
        if (after.join(',') === namespaces.join(',')) return;
      }
    });
  }

  private async liveNamespaces(owner: string): Promise<string[]> {
    const all = await listClusterNamespaces(this.kube);
    return all
      .filter((c) => c.live && c.owner === owner)
      .map((c) => c.namespace)
      .sort();
  }

  private async apply(owner: string, namespaces: string[]): Promise<void> {
    const clusterName = this.config.clusterName;
    const principalArn = this.principalArn(owner);
    if (namespaces.length === 0) {
      try {
        await this.eks.send(new DeleteAccessEntryCommand({ clusterName, principalArn }));
        this.logger.info('access entry deleted', { owner, principalArn });
      } catch (err) {
        if ((err as Error).name !== 'ResourceNotFoundException') throw new EksAwsError(`deleting the access entry of ${owner} failed`, { cause: err });
      }
      return;
    }
    const policyArn = this.config.accessPolicyArn ?? DEFAULT_ACCESS_POLICY_ARN;
    const current = await this.associations(principalArn);
    if (current) {
      const scope = current.find((p) => p.policyArn === policyArn)?.accessScope;
      const same = scope?.type === 'namespace' && [...(scope.namespaces ?? [])].sort().join(',') === namespaces.join(',');
      if (same) return; // already exactly right: no write
    }
    if (!current) await this.createEntry(owner, principalArn);
    try {
      await this.eks.send(
        new AssociateAccessPolicyCommand({
          clusterName,
          principalArn,
          policyArn,
          accessScope: { type: 'namespace', namespaces },
        }),
      );
    } catch (err) {
      throw new EksAwsError(`scoping the access of ${owner} to their namespaces failed`, { cause: err });
    }
  }

  /** The entry's policy associations, or undefined when the entry does not exist. */
  private async associations(principalArn: string): Promise<AssociatedAccessPolicy[] | undefined> {
    try {
      const out = await this.eks.send(new ListAssociatedAccessPoliciesCommand({ clusterName: this.config.clusterName, principalArn }));
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

  private async createEntry(owner: string, principalArn: string): Promise<void> {
    const clusterName = this.config.clusterName;
    try {
      await this.eks.send(
        new CreateAccessEntryCommand({
          clusterName,
          principalArn,
          kubernetesGroups: [userKubernetesGroup(owner, this.config.kubernetesGroupPrefix)],
          type: 'STANDARD',
          tags: { user: owner, 'recc.io/managed-by': 'recc' },
        }),
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
