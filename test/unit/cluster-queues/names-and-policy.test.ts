import { describe, expect, it } from 'vitest';
import { schedulerRoutePolicy, type PolicyDocument } from '../../../adapters/cluster-queues/scheduler-policy.ts';
import {
  MAX_QUEUE_NAME,
  clusterQueueTags,
  parseQueueName,
  payloadPrefixFor,
  queueNameFromUrl,
  replyQueueName,
  requestQueueName,
  sessionIsDead,
  siblingQueueUrl,
} from '../../../shared/ports/cluster-queues.ts';
import { QueueNameError } from '../../../shared/ports/errors.ts';

/**
 * Just enough of IAM's evaluation for these policies: exact actions, `*`
 * globs in resources, StringEquals with `${aws:PrincipalTag/…}` variables, and
 * implicit deny. A missing resource tag never equals anything.
 */
function allows(policy: PolicyDocument, request: { action: string; resource: string; resourceTags?: Record<string, string>; principalTags: Record<string, string> }): boolean {
  const substitute = (s: string): string | undefined => {
    let missing = false;
    const out = s.replace(/\$\{aws:PrincipalTag\/([^}]+)\}/g, (_m, key: string) => {
      const v = request.principalTags[key];
      if (v === undefined) missing = true;
      return v ?? '';
    });
    return missing ? undefined : out;
  };
  const glob = (pattern: string, value: string): boolean => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(value);
  return policy.Statement.some((st) => {
    if (!st.Action.includes(request.action)) return false;
    const resource = substitute(st.Resource);
    if (resource === undefined || !glob(resource, request.resource)) return false;
    for (const [key, want] of Object.entries(st.Condition?.StringEquals ?? {})) {
      const tag = /^aws:ResourceTag\/(.+)$/.exec(key)?.[1];
      const have = tag === undefined ? undefined : request.resourceTags?.[tag];
      if (have === undefined || have !== substitute(want)) return false;
    }
    return true;
  });
}

describe('Module: shared/ports/cluster-queues names', () => {
  it('derives the names and parses them back, including cluster ids that contain dashes', () => {
    expect(requestQueueName('recc-', 'c-abc')).toBe('recc-c-abc-req.fifo');
    expect(replyQueueName('recc-prod-', 'c-abc', 's-1')).toBe('recc-prod-c-abc-reply-s-1');
    expect(parseQueueName('recc-', 'recc-c-abc-req.fifo')).toEqual({ kind: 'request', clusterId: 'c-abc' });
    expect(parseQueueName('recc-', 'recc-c-abc-dlq.fifo')).toEqual({ kind: 'dead-letter', clusterId: 'c-abc' });
    expect(parseQueueName('recc-', 'recc-c-reply-x-reply-s-1')).toEqual({ kind: 'reply', clusterId: 'c-reply-x', sessionId: 's-1' });
    for (const foreign of ['recc-provisioning', 'other-c-1-req.fifo', 'recc--req.fifo', 'recc-c-1-reply-', 'recc-c.1-req.fifo']) {
      expect(parseQueueName('recc-', foreign), foreign).toBeUndefined();
    }
  });

  it('keeps every name within 80 characters of [A-Za-z0-9_-] (+ .fifo) or says which field is at fault', () => {
    const id = `c-${'a'.repeat(80 - 'recc-'.length - '-req.fifo'.length - 2)}`;
    expect(requestQueueName('recc-', id)).toHaveLength(MAX_QUEUE_NAME);
    expect(() => requestQueueName('recc-', `${id}a`)).toThrow(QueueNameError);
    try {
      replyQueueName('recc-', 'c 1', 'ü');
    } catch (err) {
      expect((err as QueueNameError).details.map((d) => d.path)).toEqual(['clusterId', 'sessionId']);
    }
  });

  it('finds names in URLs and derives a sibling URL (AWS and fauxqs shapes)', () => {
    expect(queueNameFromUrl('https://sqs.us-east-1.amazonaws.com/123456789012/recc-c-1-req.fifo')).toBe('recc-c-1-req.fifo');
    expect(siblingQueueUrl('https://sqs.us-east-1.amazonaws.com/123456789012/recc-c-1-req.fifo', 'recc-c-1-reply-s-1')).toBe(
      'https://sqs.us-east-1.amazonaws.com/123456789012/recc-c-1-reply-s-1',
    );
    expect(siblingQueueUrl('http://127.0.0.1:4566/000000000000/recc-c-1-req.fifo/', 'x')).toBe('http://127.0.0.1:4566/000000000000/x');
  });

  it('tags with values SQS accepts and judges sessions by last-seen', () => {
    expect(clusterQueueTags('recc-', { clusterId: 'c-1', owner: 'a,b;c', namespace: 'ns', job: 'j' })).toEqual({
      user: 'a_b_c',
      namespace: 'ns',
      cluster: 'c-1',
      job: 'j',
      'recc.io/managed-by': 'recc',
      'recc.io/queue-prefix': 'recc-',
    });
    const now = Date.parse('2026-12-05T10:00:00Z');
    expect(sessionIsDead({ lastSeenAt: '2026-12-05T09:51:00Z' }, now, 10 * 60_000)).toBe(false);
    expect(sessionIsDead({ lastSeenAt: '2026-12-05T09:50:00Z' }, now, 10 * 60_000)).toBe(true);
    expect(sessionIsDead({}, now, 10 * 60_000)).toBe(true);
    expect(sessionIsDead({ lastSeenAt: 'garbage' }, now, 10 * 60_000)).toBe(true);
    expect(sessionIsDead({ lastSeenUnknown: true }, now, 10 * 60_000)).toBe(false);
  });
});

describe('Function: schedulerRoutePolicy', () => {
  const policy = schedulerRoutePolicy({ partition: 'aws', region: 'us-east-1', accountId: '123456789012', queuePrefix: 'recc-prod-', payloadBucket: 'recc-prod-payloads', tableArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/recc-prod-clusters' });
  const queue = (name: string) => `arn:aws:sqs:us-east-1:123456789012:${name}`;
  const tagsOf = (namespace: string) => ({ 'recc.io/managed-by': 'recc', namespace, cluster: 'c-1', user: 'alice' });
  const alice = { 'kubernetes-namespace': 'recc-alice-aaa', 'kubernetes-service-account': 'recc-cluster' };

  it("lets a scheduler use its own cluster's queues and payload prefix", () => {
    for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:SendMessage']) {
      expect(allows(policy, { action, resource: queue('recc-prod-c-aaa-req.fifo'), resourceTags: tagsOf('recc-alice-aaa'), principalTags: alice }), action).toBe(true);
    }
    expect(allows(policy, { action: 'sqs:SendMessage', resource: queue('recc-prod-c-aaa-reply-s-1'), resourceTags: tagsOf('recc-alice-aaa'), principalTags: alice })).toBe(true);
    for (const action of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject']) {
      expect(allows(policy, { action, resource: `arn:aws:s3:::recc-prod-payloads/${payloadPrefixFor('recc-alice-aaa')}x`, principalTags: alice }), action).toBe(true);
    }
  });

  it("denies another cluster's queues and payloads, untagged queues, other deployments and queue management", () => {
    expect(allows(policy, { action: 'sqs:ReceiveMessage', resource: queue('recc-prod-c-bbb-req.fifo'), resourceTags: tagsOf('recc-bob-bbb'), principalTags: alice })).toBe(false);
    expect(allows(policy, { action: 'sqs:ReceiveMessage', resource: queue('recc-prod-c-aaa-req.fifo'), resourceTags: { namespace: 'recc-alice-aaa' }, principalTags: alice })).toBe(false);
    expect(allows(policy, { action: 'sqs:ReceiveMessage', resource: queue('recc-staging-c-aaa-req.fifo'), resourceTags: tagsOf('recc-alice-aaa'), principalTags: alice })).toBe(false);
    expect(allows(policy, { action: 'sqs:ReceiveMessage', resource: queue('recc-prod-provisioning'), principalTags: alice })).toBe(false);
    for (const action of ['sqs:DeleteQueue', 'sqs:CreateQueue', 'sqs:TagQueue', 'sqs:SetQueueAttributes', 'sqs:PurgeQueue']) {
      expect(allows(policy, { action, resource: queue('recc-prod-c-aaa-req.fifo'), resourceTags: tagsOf('recc-alice-aaa'), principalTags: alice }), action).toBe(false);
    }
    expect(allows(policy, { action: 's3:GetObject', resource: 'arn:aws:s3:::recc-prod-payloads/clusters/recc-bob-bbb/payloads/x', principalTags: alice })).toBe(false);
    expect(allows(policy, { action: 's3:ListBucket', resource: 'arn:aws:s3:::recc-prod-payloads', principalTags: alice })).toBe(false);
    // A session without the namespace tag (not a Pod Identity session) gets nothing.
    expect(allows(policy, { action: 'sqs:ReceiveMessage', resource: queue('recc-prod-c-aaa-req.fifo'), resourceTags: tagsOf(''), principalTags: {} })).toBe(false);
  });
});
