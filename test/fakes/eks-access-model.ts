import {
  AssociateAccessPolicyCommand,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  DescribeAccessEntryCommand,
  EKSClient,
  InvalidParameterException,
  InvalidRequestException,
  ListAccessEntriesCommand,
  ListAssociatedAccessPoliciesCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  ServerException,
  ThrottlingException,
  UpdateAccessEntryCommand,
} from '@aws-sdk/client-eks';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';

/**
 * In-memory EKS access entries behind `aws-sdk-client-mock`, with the real
 * service's errors: ResourceInUseException for a duplicate entry,
 * ResourceNotFoundException for an unknown cluster / entry, and
 * AssociateAccessPolicy replacing the scope of an existing association.
 * Access entries exist only under the API or API_AND_CONFIG_MAP authentication
 * mode (InvalidRequestException otherwise), and CreateAccessEntry needs an IAM
 * principal that exists (InvalidParameterException): EKS API reference,
 * CreateAccessEntry, and the EKS user guide "Change authentication mode".
 */
export interface AccessEntryState {
  principalArn: string;
  kubernetesGroups: string[];
  type: string;
  tags: Record<string, string>;
  /** policyArn → scope */
  associations: Map<string, { type: string; namespaces: string[] }>;
}

/**
 * Transient faults of the access-entry API (chaos runs):
 * - `ThrottlingException` (HTTP 400): the request was refused by request
 *   throttling and not served (EKS API Reference, "Common Errors");
 * - `ServerException` (HTTP 500): "a server-side issue", listed under Errors
 *   for every access-entry action (EKS API Reference, CreateAccessEntry,
 *   DeleteAccessEntry, AssociateAccessPolicy, …). With `committed`, the call
 *   was served and only its answer failed: a 500 says nothing about whether
 *   the write happened, so a retried CreateAccessEntry then meets its own
 *   entry (ResourceInUseException, as CreateAccessEntry documents) and a
 *   retried DeleteAccessEntry ResourceNotFoundException.
 */
export type EksFaultName = 'ThrottlingException' | 'ServerException';
export interface EksFault {
  name: EksFaultName;
  /** ServerException only: serve the call, then answer with the fault. */
  committed?: boolean;
}

function eksFault(f: EksFault): Error {
  return f.name === 'ThrottlingException'
    ? new ThrottlingException({ $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' })
    : new ServerException({ $metadata: { httpStatusCode: 500 }, message: 'An internal error occurred. Please try again.' });
}

export class EksAccessModel {
  readonly entries = new Map<string, AccessEntryState>();
  stub: AwsStub<any, any, any> | undefined;
  /** The cluster's accessConfig.authenticationMode. */
  authenticationMode: 'API' | 'API_AND_CONFIG_MAP' | 'CONFIG_MAP' = 'API_AND_CONFIG_MAP';
  /** Largest ListAccessEntries page (the service's maximum is 100; tests set it low to exercise paging). */
  pageSize = 100;
  /** Which IAM principals exist (default: every well-formed one). */
  principalExists: (arn: string) => boolean = () => true;
  /** A fault to answer a call with (chaos runs), by command name, e.g. `CreateAccessEntry`; see `EksFault`. */
  fault: ((command: string) => EksFault | undefined) | undefined;
  /** Faults answered, by name (`ServerException` after a served call counts as `ServerException:committed`). */
  readonly faultCounts = new Map<string, number>();

  constructor(
    readonly clusterName: string,
    private readonly latency?: () => Promise<void>,
  ) {}

  install(): this {
    const stub = mockClient(EKSClient);
    stub.onAnyCommand().rejects(new Error('EksAccessModel: command not modelled'));
    const serve = (command: string, fn: (input: any) => unknown) => async (input: any) => {
      if (this.latency) await this.latency();
      const f = this.fault?.(command);
      const count = (key: string) => this.faultCounts.set(key, (this.faultCounts.get(key) ?? 0) + 1);
      if (f && !(f.name === 'ServerException' && f.committed)) {
        count(f.name);
        throw eksFault(f);
      }
      const out = fn(input);
      if (f) {
        count(`${f.name}:committed`);
        throw eksFault(f);
      }
      return out;
    };
    stub.on(CreateAccessEntryCommand).callsFake(serve('CreateAccessEntry', (i) => this.create(i)));
    stub.on(AssociateAccessPolicyCommand).callsFake(serve('AssociateAccessPolicy', (i) => this.associate(i)));
    stub.on(DeleteAccessEntryCommand).callsFake(serve('DeleteAccessEntry', (i) => this.remove(i)));
    stub.on(UpdateAccessEntryCommand).callsFake(serve('UpdateAccessEntry', (i) => this.update(i)));
    stub.on(DescribeAccessEntryCommand).callsFake(serve('DescribeAccessEntry', (i) => ({ accessEntry: this.view(this.must(i.clusterName, i.principalArn)) })));
    stub.on(ListAccessEntriesCommand).callsFake(serve('ListAccessEntries', (i) => this.list(i)));
    stub.on(ListAssociatedAccessPoliciesCommand).callsFake(
      serve('ListAssociatedAccessPolicies', (i) => {
        const e = this.must(i.clusterName, i.principalArn);
        return {
          clusterName: i.clusterName,
          principalArn: i.principalArn,
          associatedAccessPolicies: [...e.associations].map(([policyArn, accessScope]) => ({ policyArn, accessScope })),
        };
      }),
    );
    this.stub = stub;
    return this;
  }

  restore(): void {
    this.stub?.restore();
    this.stub = undefined;
  }

  /** Every access-entry call: ResourceNotFoundException for an unknown cluster, InvalidRequestException under CONFIG_MAP (EKS API Reference, CreateAccessEntry "Errors"; EKS User Guide, "Change authentication mode to use access entries"). */
  private checkCluster(name: string | undefined): void {
    if (name !== this.clusterName) {
      throw new ResourceNotFoundException({ $metadata: { httpStatusCode: 404 }, message: `No cluster found for name: ${name}.` });
    }
    if (this.authenticationMode === 'CONFIG_MAP') {
      throw new InvalidRequestException({
        $metadata: { httpStatusCode: 400 },
        message: "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
      });
    }
  }

  private must(clusterName: string | undefined, principalArn: string | undefined): AccessEntryState {
    this.checkCluster(clusterName);
    const e = this.entries.get(principalArn ?? '');
    if (!e) {
      throw new ResourceNotFoundException({ $metadata: { httpStatusCode: 404 }, message: `The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.` });
    }
    return e;
  }

  /** Principal ARNs, paged with maxResults (1–100) and nextToken; `associatedPolicyArn` filters (EKS API Reference, ListAccessEntries). */
  private list(i: any): unknown {
    this.checkCluster(i.clusterName);
    const maxResults = i.maxResults ?? 100;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > 100) {
      throw new InvalidParameterException({ $metadata: { httpStatusCode: 400 }, message: 'maxResults must be between 1 and 100' });
    }
    const all = [...this.entries.values()]
      .filter((e) => i.associatedPolicyArn === undefined || e.associations.has(i.associatedPolicyArn))
      .map((e) => e.principalArn)
      .sort();
    const start = i.nextToken ? Number(Buffer.from(String(i.nextToken), 'base64url').toString('utf8')) : 0;
    if (!Number.isInteger(start) || start < 0) throw new InvalidParameterException({ $metadata: { httpStatusCode: 400 }, message: 'The nextToken is not valid' });
    const page = all.slice(start, start + Math.min(maxResults, this.pageSize));
    const end = start + page.length;
    return { accessEntries: page, ...(end < all.length ? { nextToken: Buffer.from(String(end), 'utf8').toString('base64url') } : {}) };
  }

  private view(e: AccessEntryState): Record<string, unknown> {
    return { clusterName: this.clusterName, principalArn: e.principalArn, kubernetesGroups: [...e.kubernetesGroups], type: e.type, tags: { ...e.tags } };
  }

  /**
   * CreateAccessEntry (EKS API Reference): the principal must be an existing IAM principal
   * (InvalidParameterException), kubernetesGroups may not start with `system:`, and one entry per
   * principal (ResourceInUseException, 409).
   */
  private create(i: any): unknown {
    this.checkCluster(i.clusterName);
    if (!/^arn:aws:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(i.principalArn ?? '')) {
      throw new InvalidParameterException({ $metadata: { httpStatusCode: 400 }, message: `The principalArn parameter format is not valid` });
    }
    if (!this.principalExists(i.principalArn)) {
      throw new InvalidParameterException({ $metadata: { httpStatusCode: 400 }, message: 'The specified principalArn is invalid: invalid principal.' });
    }
    for (const g of i.kubernetesGroups ?? []) {
      if (String(g).startsWith('system:')) throw new InvalidParameterException({ $metadata: { httpStatusCode: 400 }, message: 'kubernetesGroups cannot start with system:' });
    }
    if (this.entries.has(i.principalArn)) {
      throw new ResourceInUseException({ $metadata: { httpStatusCode: 409 }, message: `The specified access entry resource is already in use on this cluster.` });
    }
    const e: AccessEntryState = {
      principalArn: i.principalArn,
      kubernetesGroups: [...(i.kubernetesGroups ?? [])],
      type: i.type ?? 'STANDARD',
      tags: { ...(i.tags ?? {}) },
      associations: new Map(),
    };
    this.entries.set(i.principalArn, e);
    return { accessEntry: this.view(e) };
  }

  /** AssociateAccessPolicy (EKS API Reference): re-associating a policy replaces its access scope; a namespace scope needs namespaces. */
  private associate(i: any): unknown {
    const e = this.must(i.clusterName, i.principalArn);
    const scope = i.accessScope ?? {};
    if (scope.type === 'namespace' && !(scope.namespaces ?? []).length) {
      throw new InvalidParameterException({ $metadata: { httpStatusCode: 400 }, message: 'namespaces must be given for a namespace access scope' });
    }
    e.associations.set(i.policyArn, { type: scope.type, namespaces: [...(scope.namespaces ?? [])] });
    return { clusterName: i.clusterName, principalArn: i.principalArn, associatedAccessPolicy: { policyArn: i.policyArn, accessScope: scope } };
  }

  /** DeleteAccessEntry (EKS API Reference): the entry and its policy associations go; unknown → ResourceNotFoundException. */
  private remove(i: any): unknown {
    this.must(i.clusterName, i.principalArn);
    this.entries.delete(i.principalArn);
    return {};
  }

  /**
   * UpdateAccessEntry: `kubernetesGroups`, when given, replaces the list
   * (the same `system:` rule as at create); tags are not changed here (EKS
   * uses TagResource for them).
   */
  private update(i: any): unknown {
    const e = this.must(i.clusterName, i.principalArn);
    if (i.kubernetesGroups !== undefined) {
      for (const g of i.kubernetesGroups) {
        if (String(g).startsWith('system:')) throw new InvalidParameterException({ $metadata: { httpStatusCode: 400 }, message: 'kubernetesGroups cannot start with system:' });
      }
      e.kubernetesGroups = [...i.kubernetesGroups];
    }
    return { accessEntry: this.view(e) };
  }
}
