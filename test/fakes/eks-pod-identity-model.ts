import {
  CreatePodIdentityAssociationCommand,
  DeletePodIdentityAssociationCommand,
  DescribePodIdentityAssociationCommand,
  InvalidParameterException,
  ListPodIdentityAssociationsCommand,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-eks';
import type { AwsStub } from 'aws-sdk-client-mock';

/**
 * EKS Pod Identity associations with the service's errors, added to the
 * EKS mock of `EksAccessModel` (one `mockClient(EKSClient)` per test world):
 * ResourceNotFoundException for an unknown cluster or association,
 * ResourceInUseException for a second association of one service account,
 * InvalidParameterException for a malformed role ARN. List filters by
 * namespace and service account and pages with `maxResults` (1–100,
 * default 100) and `nextToken`, as the EKS API reference describes;
 * Describe returns the role ARN and tags the list leaves out.
 */
export interface PodIdentityAssociationState {
  associationId: string;
  namespace: string;
  serviceAccount: string;
  roleArn: string;
  tags: Record<string, string>;
}

export class EksPodIdentityModel {
  readonly associations = new Map<string, PodIdentityAssociationState>();
  private next = 0;

  constructor(readonly clusterName: string) {}

  install(stub: AwsStub<any, any, any>): this {
    stub.on(ListPodIdentityAssociationsCommand).callsFake(async (i: any) => this.list(i));
    stub.on(CreatePodIdentityAssociationCommand).callsFake(async (i: any) => this.create(i));
    stub.on(DeletePodIdentityAssociationCommand).callsFake(async (i: any) => {
      this.cluster(i.clusterName);
      const a = this.associations.get(i.associationId);
      if (!a) throw this.notFound(i.associationId);
      this.associations.delete(i.associationId);
      return { association: this.view(a) };
    });
    stub.on(DescribePodIdentityAssociationCommand).callsFake(async (i: any) => {
      this.cluster(i.clusterName);
      const a = this.associations.get(i.associationId);
      if (!a) throw this.notFound(i.associationId);
      return { association: this.view(a) };
    });
    return this;
  }

  /** Add an association directly (what another tool, or an earlier run, left behind). */
  seed(a: Omit<PodIdentityAssociationState, 'associationId'>): string {
    const associationId = `a-${(this.next++).toString().padStart(17, '0')}`;
    this.associations.set(associationId, { associationId, ...a });
    return associationId;
  }

  private cluster(name: string): void {
    if (name !== this.clusterName) throw new ResourceNotFoundException({ $metadata: { httpStatusCode: 404 }, message: `No cluster found for name: ${name}.` });
  }

  private notFound(id: string): Error {
    return new ResourceNotFoundException({ $metadata: { httpStatusCode: 404 }, message: `No Pod Identity Association found for ${id}.` });
  }

  private view(a: PodIdentityAssociationState): Record<string, unknown> {
    return {
      clusterName: this.clusterName,
      namespace: a.namespace,
      serviceAccount: a.serviceAccount,
      roleArn: a.roleArn,
      associationArn: `arn:aws:eks:us-east-1:123456789012:podidentityassociation/${this.clusterName}/${a.associationId}`,
      associationId: a.associationId,
      tags: { ...a.tags },
    };
  }

  private list(i: any): unknown {
    this.cluster(i.clusterName);
    const maxResults = i.maxResults ?? 100;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 100) {
      throw new InvalidParameterException({ $metadata: { httpStatusCode: 400 }, message: 'maxResults must be between 1 and 100' });
    }
    const all = [...this.associations.values()]
      .filter((a) => (i.namespace === undefined || a.namespace === i.namespace) && (i.serviceAccount === undefined || a.serviceAccount === i.serviceAccount))
      .sort((a, b) => a.associationId.localeCompare(b.associationId));
    const start = i.nextToken ? Number(Buffer.from(String(i.nextToken), 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(start) || start < 0) throw new InvalidParameterException({ $metadata: { httpStatusCode: 400 }, message: 'The nextToken is not valid' });
    const page = all.slice(start, start + Math.min(maxResults, this.pageSize));
    const end = start + page.length;
    return {
      // The summary carries no role ARN and no tags (Describe does).
      associations: page.map((a) => ({
        clusterName: this.clusterName,
        namespace: a.namespace,
        serviceAccount: a.serviceAccount,
        associationArn: `arn:aws:eks:us-east-1:123456789012:podidentityassociation/${this.clusterName}/${a.associationId}`,
        associationId: a.associationId,
      })),
      ...(end < all.length ? { nextToken: Buffer.from(String(end), 'utf8').toString('base64url') } : {}),
    };
  }

  /** Page size when the caller gives none smaller (tests set it low to exercise paging). */
  pageSize = 100;

  private create(i: any): unknown {
    this.cluster(i.clusterName);
    if (!/^arn:aws:iam::\d{12}:role\//.test(i.roleArn ?? '')) throw new InvalidParameterException({ $metadata: { httpStatusCode: 400 }, message: 'roleArn is not valid' });
    if ([...this.associations.values()].some((a) => a.namespace === i.namespace && a.serviceAccount === i.serviceAccount)) {
      throw new ResourceInUseException({ $metadata: { httpStatusCode: 409 }, message: 'Association already exists' });
    }
    const id = this.seed({ namespace: i.namespace, serviceAccount: i.serviceAccount, roleArn: i.roleArn, tags: { ...(i.tags ?? {}) } });
    return { association: this.view(this.associations.get(id)!) };
  }
}
