import type { DatastoresSpec } from '../../../shared/datastores/config.ts';

type S3StoreSpec = { type: 's3'; bucket: string; prefix?: string };

/**
 * The least-privilege IAM policy for a cluster's S3 datastores (pure): read
 * (GetObject, which HEAD needs too, and ListBucket limited to the prefix) on
 * every S3 store of the spec, and write (PutObject, multipart, DeleteObject)
 * only on the write target. Nothing outside those buckets and prefixes.
 *
 * recc has no per-cluster IAM role of its own: the document is put on the
 * cluster's ServiceAccount (annotation `recc.io/datastore-policy`) and
 * printed by `recc render`, for the operator's per-owner role (IRSA,
 * `datastoreRoleArnTemplate`) to carry. See README "Datastores".
 */
export interface IamPolicyDocument {
  Version: '2012-10-17';
  Statement: Array<{
    Sid: string;
    Effect: 'Allow';
    Action: string[];
    Resource: string | string[];
    Condition?: Record<string, Record<string, string[]>>;
  }>;
}

export const DATASTORE_POLICY_ANNOTATION = 'recc.io/datastore-policy';

const READ_ACTIONS = ['s3:GetObject'];
const WRITE_ACTIONS = ['s3:PutObject', 's3:AbortMultipartUpload', 's3:DeleteObject'];

function normalPrefix(prefix: string | undefined): string {
  if (prefix === undefined) return '';
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** Undefined when the spec has no S3 store (nothing to grant). */
export function datastorePolicy(datastores: DatastoresSpec | undefined): IamPolicyDocument | undefined {
  const s3 = Object.entries(datastores?.stores ?? {}).flatMap(([name, s]): Array<[string, S3StoreSpec]> => (s.type === 's3' ? [[name, s]] : []));
  if (s3.length === 0) return undefined;
  const objectArn = (s: S3StoreSpec) => `arn:aws:s3:::${s.bucket}/${normalPrefix(s.prefix)}*`;
  const read = [...new Set(s3.map(([, s]) => objectArn(s)))].sort();
  const write = s3.filter(([name]) => name === datastores?.write).map(([, s]) => objectArn(s));
  const prefixesByBucket = new Map<string, Set<string>>();
  for (const [, s] of s3) {
    const set = prefixesByBucket.get(s.bucket) ?? new Set<string>();
    set.add(`${normalPrefix(s.prefix)}*`);
    prefixesByBucket.set(s.bucket, set);
  }
  const Statement: IamPolicyDocument['Statement'] = [{ Sid: 'ReadDatastores', Effect: 'Allow', Action: READ_ACTIONS, Resource: read }];
  if (write.length) Statement.push({ Sid: 'WriteTarget', Effect: 'Allow', Action: WRITE_ACTIONS, Resource: write });
  for (const [bucket, prefixes] of [...prefixesByBucket.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    Statement.push({
      Sid: `List${bucket.replace(/[^A-Za-z0-9]/g, '')}`.slice(0, 128),
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: `arn:aws:s3:::${bucket}`,
      Condition: { StringLike: { 's3:prefix': [...prefixes].sort() } },
    });
  }
  return { Version: '2012-10-17', Statement };
}
