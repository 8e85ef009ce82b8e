import {
  CreatePodIdentityAssociationCommand,
  DeletePodIdentityAssociationCommand,
  DescribePodIdentityAssociationCommand,
  ListPodIdentityAssociationsCommand,
  type EKSClient,
} from '@aws-sdk/client-eks';
import type { Logger } from '../../shared/core/logger.ts';
import { EksAwsError } from './errors.ts';
import { OBJECT_NAMES } from './manifests/naming.ts';

/**
 * The cluster's pods get the shared scheduler role through an EKS Pod
 * Identity association for their namespace's service account (issue 12 #6).
 * The role is scoped by attribute (serverless.yml `ClusterSchedulerRole`,
 * `adapters/cluster-queues/scheduler-policy.ts`): the session's
 * `kubernetes-namespace` tag must match the queue's `namespace` tag and the
 * payload prefix, so a pod reaches only its own cluster's queues and
 * payloads. One association per namespace, made on apply and removed on
 * teardown; both idempotent (level-triggered: listed, then created or
 * deleted; a concurrent create's ResourceInUseException and a concurrent
 * delete's ResourceNotFoundException are success).
 */
export interface PodIdentityConfig {
  clusterName: string;
  roleArn: string;
  /** @default OBJECT_NAMES.serviceAccount */
  serviceAccount?: string;
}

export class ClusterPodIdentity {
  private readonly serviceAccount: string;

  constructor(
    private readonly eks: EKSClient,
    private readonly config: PodIdentityConfig,
    private readonly logger: Logger,
  ) {
    this.serviceAccount = config.serviceAccount ?? OBJECT_NAMES.serviceAccount;
  }

  /** The associations of one namespace, or of the whole EKS cluster when none is given. */
  private async associations(namespace?: string): Promise<{ associationId: string; namespace: string; serviceAccount: string }[]> {
    const out: { associationId: string; namespace: string; serviceAccount: string }[] = [];
    let nextToken: string | undefined;
    do {
      let page;
      try {
        page = await this.eks.send(
          new ListPodIdentityAssociationsCommand({ clusterName: this.config.clusterName, ...(namespace ? { namespace } : {}), ...(nextToken ? { nextToken } : {}) }),
        );
      } catch (err) {
        throw new EksAwsError(`listing the Pod Identity associations of ${namespace ?? this.config.clusterName} failed`, { cause: err });
      }
      for (const a of page.associations ?? []) {
        if (a.associationId && a.serviceAccount && a.namespace) out.push({ associationId: a.associationId, namespace: a.namespace, serviceAccount: a.serviceAccount });
      }
      nextToken = page.nextToken;
    } while (nextToken);
    return out;
  }

  /**
   * The harvester's sweep (issue 21 #3): associations of recc's service
   * account with the scheduler role whose namespace is no longer a recc
   * cluster namespace are deleted (a teardown that stopped after the
   * namespace went, or a namespace deleted by hand: the next namespace of
   * that name must not inherit the role). The associations are listed
   * BEFORE `namespaces()` is read: apply creates the namespace before its
   * association, so an association seen here whose namespace is missing
   * from the later read is really orphaned. Each candidate's role is read
   * back (the list does not carry it) so an association another team made
   * for its own role is never touched. Not-found on delete is success.
   */
  async sweep(namespaces: () => Promise<ReadonlySet<string>>): Promise<Array<{ namespace: string; associationId: string }>> {
    const candidates = (await this.associations()).filter((a) => a.serviceAccount === this.serviceAccount);
    if (candidates.length === 0) return [];
    const live = await namespaces();
    const removed: Array<{ namespace: string; associationId: string }> = [];
    for (const a of candidates) {
      if (live.has(a.namespace)) continue;
      let roleArn: string | undefined;
      try {
        const out = await this.eks.send(new DescribePodIdentityAssociationCommand({ clusterName: this.config.clusterName, associationId: a.associationId }));
        roleArn = out.association?.roleArn;
      } catch (err) {
        if ((err as Error).name === 'ResourceNotFoundException') continue;
        throw new EksAwsError(`reading the Pod Identity association ${a.associationId} failed`, { cause: err });
      }
      if (roleArn !== this.config.roleArn) continue;
      try {
        await this.eks.send(new DeletePodIdentityAssociationCommand({ clusterName: this.config.clusterName, associationId: a.associationId }));
      } catch (err) {
        if ((err as Error).name !== 'ResourceNotFoundException') throw new EksAwsError(`deleting the Pod Identity association of ${a.namespace} failed`, { cause: err });
        continue;
      }
      removed.push({ namespace: a.namespace, associationId: a.associationId });
      this.logger.info('orphaned pod identity association deleted', { namespace: a.namespace, associationId: a.associationId });
    }
    return removed;
  }

  /** Associate the namespace's service account with the role (once). */
  async ensure(namespace: string, tags: Record<string, string>): Promise<void> {
    if ((await this.associations(namespace)).some((a) => a.serviceAccount === this.serviceAccount)) return;
    try {
      await this.eks.send(
        new CreatePodIdentityAssociationCommand({ clusterName: this.config.clusterName, namespace, serviceAccount: this.serviceAccount, roleArn: this.config.roleArn, tags }),
      );
      this.logger.info('pod identity association created', { namespace, serviceAccount: this.serviceAccount });
    } catch (err) {
      if ((err as Error).name === 'ResourceInUseException') return;
      throw new EksAwsError(`associating ${namespace}/${this.serviceAccount} with the scheduler role failed`, { cause: err });
    }
  }

  /** Remove every association of the namespace. */
  async remove(namespace: string): Promise<void> {
    for (const a of await this.associations(namespace)) {
      try {
        await this.eks.send(new DeletePodIdentityAssociationCommand({ clusterName: this.config.clusterName, associationId: a.associationId }));
      } catch (err) {
        if ((err as Error).name !== 'ResourceNotFoundException') throw new EksAwsError(`deleting the Pod Identity association of ${namespace} failed`, { cause: err });
      }
    }
  }
}
