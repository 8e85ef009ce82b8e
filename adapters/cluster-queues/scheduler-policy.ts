import { QUEUE_MANAGED_BY, QUEUE_TAGS } from '../../shared/ports/cluster-queues.ts';

/**
 * The IAM policy of a cluster's scheduler on EKS (Pod Identity), rendered
 * from the queue contract so it cannot drift from the names and tags the
 * adapters use; serverless.yml's `ClusterSchedulerRole` is checked against
 * it (test/integration/serverless/iam.test.ts).
 *
 * One role serves every cluster. EKS Pod Identity tags each session with the
 * pod's namespace (`aws:PrincipalTag/kubernetes-namespace`); every queue of a
 * cluster carries the cluster's namespace as its `namespace` tag, and its
 * payloads live under `clusters/<namespace>/`. So a scheduler can use its
 * own cluster's queues (receive and delete requests, extend visibility,
 * send replies to its sessions' reply queues), payloads and submission
 * record (the items of partition `SQSLOG#<namespace>` in the cluster table),
 * and nothing of another cluster's, without a role per cluster.
 */
export const NAMESPACE_PRINCIPAL_TAG = '${aws:PrincipalTag/kubernetes-namespace}';

export const SCHEDULER_QUEUE_ACTIONS = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:SendMessage', 'sqs:GetQueueAttributes'] as const;
export const SCHEDULER_PAYLOAD_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'] as const;
/** The bridge's submission record in the cluster table (scheduler/sqs-bridge/dynamodb-store.ts): its own partition only. */
export const SCHEDULER_RECORD_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:BatchWriteItem'] as const;
/** The partition of a cluster's submission record (`submissionLogPartition(namespace)`), as an IAM value. */
export const SCHEDULER_RECORD_PARTITION = `SQSLOG#${'${aws:PrincipalTag/kubernetes-namespace}'}`;

export interface SchedulerPolicyInput {
  partition: string;
  region: string;
  accountId: string;
  /** The deployment's queue prefix, e.g. `recc-prod-`. */
  queuePrefix: string;
  payloadBucket: string;
  /** The cluster table (the bridge keeps its submission record there, RECC_SQS_STORE=dynamodb). */
  tableArn: string;
}

export interface PolicyStatement {
  Effect: 'Allow';
  Action: string[];
  Resource: string;
  Condition?: Record<string, Record<string, string>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

export function schedulerRoutePolicy(input: SchedulerPolicyInput): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: [...SCHEDULER_QUEUE_ACTIONS],
        Resource: `arn:${input.partition}:sqs:${input.region}:${input.accountId}:${input.queuePrefix}*`,
        Condition: {
          StringEquals: {
            [`aws:ResourceTag/${QUEUE_TAGS.managedBy}`]: QUEUE_MANAGED_BY,
            [`aws:ResourceTag/${QUEUE_TAGS.namespace}`]: NAMESPACE_PRINCIPAL_TAG,
          },
        },
      },
      {
        Effect: 'Allow',
        Action: [...SCHEDULER_PAYLOAD_ACTIONS],
        Resource: `arn:${input.partition}:s3:::${input.payloadBucket}/clusters/${NAMESPACE_PRINCIPAL_TAG}/*`,
      },
      {
        Effect: 'Allow',
        Action: [...SCHEDULER_RECORD_ACTIONS],
        Resource: input.tableArn,
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': SCHEDULER_RECORD_PARTITION } },
      },
    ],
  };
}
