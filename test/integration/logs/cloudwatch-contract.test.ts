import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  FilterLogEventsCommand,
  InvalidParameterException,
  PutLogEventsCommand,
  PutRetentionPolicyCommand,
  ResourceAlreadyExistsException,
  ResourceNotFoundException,
  ThrottlingException,
} from '@aws-sdk/client-cloudwatch-logs';
import { AssociateAccessPolicyCommand, CreateAccessEntryCommand, DeleteAccessEntryCommand } from '@aws-sdk/client-eks';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';
import { CloudWatchLogReader, ensureLogGroup, expiredLogs } from '../../../adapters/logs/reader.ts';
import { CloudWatchLogShipper, LOG_EVENT_MAX_BYTES, LOG_EVENT_OVERHEAD_BYTES, PUT_LOG_EVENTS_MAX_BYTES } from '../../../adapters/logs/shipper.ts';
import { LogsConfigError, LogsExpiredError } from '../../../adapters/logs/errors.ts';
import { startEksStack, testDefinition, testSecrets } from '../../support/eks-stack.ts';

/**
 * Contract tests of the CloudWatch Logs adapter at the SDK boundary
 * (aws-sdk-client-mock): PutLogEvents batching within 10,000 events and
 * 1,048,576 bytes (message bytes + 26 each), events cut to the per-event
 * limit, no sequence token, missing stream created, throttling retried,
 * refusals reported; FilterLogEvents pagination (empty pages with a token
 * included); log group retention; and the EKS access entry with its
 * namespace-scoped policy association, with their exact inputs.
 */
const GROUP = '/recc/test/clusters';
const STREAM = 'c-1/scheduler';
const QUICK = { initialMs: 1, maxMs: 5, jitter: 'none' as const };

describe('Class: CloudWatchLogShipper', () => {
  let cw: AwsStub<any, any, any>;
  let client: CloudWatchLogsClient;
  let errors: string[];
  const shipper = (extra: Partial<ConstructorParameters<typeof CloudWatchLogShipper>[0]> = {}) =>
    new CloudWatchLogShipper({ client, logGroupName: GROUP, logStreamName: STREAM, backoff: QUICK, flushIntervalMs: 10, onError: (m) => errors.push(m), ...extra });
  type Put = { logGroupName: string; logStreamName: string; logEvents: Array<{ timestamp: number; message: string }> };
  const puts = () => cw.commandCalls(PutLogEventsCommand).map((c) => c.args[0].input as Put);

  beforeEach(() => {
    cw = mockClient(CloudWatchLogsClient);
    cw.on(CreateLogStreamCommand).resolves({});
    cw.on(PutLogEventsCommand).resolves({});
    client = new CloudWatchLogsClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    errors = [];
  });

  afterEach(() => {
    cw.restore();
  });

  it('sends batches of at most 10,000 events, in order, with no sequence token', async () => {
    // Prepare
    const s = shipper();
    const t0 = Date.UTC(2026, 11, 5, 8);

    // Act
    for (let i = 0; i < 25_000; i += 1) s.write(`line ${i}`, t0 + i);
    await s.flush();

    // Assess
    const batches = puts();
    expect(batches.map((b) => b.logEvents.length)).toEqual([10_000, 10_000, 5_000]);
    for (const b of batches) {
      expect(Object.keys(b).sort()).toEqual(['logEvents', 'logGroupName', 'logStreamName']);
      expect(b).toMatchObject({ logGroupName: GROUP, logStreamName: STREAM });
    }
    const all = batches.flatMap((b) => b.logEvents);
    expect(all.map((e: { message: string }) => e.message)).toEqual(Array.from({ length: 25_000 }, (_, i) => `line ${i}`));
    expect(all.every((e: { timestamp: number }, i: number) => i === 0 || e.timestamp >= all[i - 1]!.timestamp)).toBe(true);
    expect(cw.commandCalls(CreateLogStreamCommand).map((c) => c.args[0].input)).toEqual([{ logGroupName: GROUP, logStreamName: STREAM }]);
    expect(s.stats).toMatchObject({ shipped: 25_000, dropped: 0, batches: 3 });
  });

  it('keeps every batch within 1,048,576 bytes counting 26 bytes per event, and cuts an event over the event limit', async () => {
    // Prepare
    const s = shipper();
    const big = 'x'.repeat(100_000);

    // Act
    for (let i = 0; i < 25; i += 1) s.write(big);
    s.write('é'.repeat(200_000)); // 400,000 UTF-8 bytes
    await s.flush();

    // Assess
    const batches = puts();
    const size = (b: { logEvents: Array<{ message: string }> }) => b.logEvents.reduce((n, e) => n + Buffer.byteLength(e.message) + LOG_EVENT_OVERHEAD_BYTES, 0);
    expect(batches.every((b) => size(b) <= PUT_LOG_EVENTS_MAX_BYTES)).toBe(true);
    expect(batches.map((b) => b.logEvents.length)).toEqual([10, 10, 6]); // 10 × 100,026 fits; 11 does not
    const cut = batches.at(-1)!.logEvents.at(-1)!.message as string;
    expect(Buffer.byteLength(cut) + LOG_EVENT_OVERHEAD_BYTES).toBeLessThanOrEqual(LOG_EVENT_MAX_BYTES);
    expect(cut).toMatch(/^é+ …\[truncated by recc/);
  });

  it('creates a missing stream and resends; retries throttling; reports and drops a refused batch', async () => {
    // Prepare
    cw.on(PutLogEventsCommand)
      .rejectsOnce(new ResourceNotFoundException({ $metadata: { httpStatusCode: 400 }, message: 'The specified log stream does not exist.' }))
      .rejectsOnce(new ThrottlingException({ $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' }))
      .resolvesOnce({})
      .rejectsOnce(new InvalidParameterException({ $metadata: { httpStatusCode: 400 }, message: 'Log events in a single PutLogEvents request must be in chronological order.' }))
      .resolves({});
    cw.on(CreateLogStreamCommand).rejects(new ResourceAlreadyExistsException({ $metadata: { httpStatusCode: 400 }, message: 'The specified log stream already exists' }));
    const s = shipper();

    // Act
    s.write('first');
    await s.flush();
    s.write('second');
    await s.flush();
    s.write('third');
    await s.flush();

    // Assess: first needed a stream (already there after all) and one throttle; second was refused; third went out.
    expect(puts().map((p) => p.logEvents.map((e: { message: string }) => e.message))).toEqual([['first'], ['first'], ['first'], ['second'], ['third']]);
    expect(cw.commandCalls(CreateLogStreamCommand)).toHaveLength(2);
    expect(errors).toEqual([expect.stringContaining('PutLogEvents refused 1 lines: InvalidParameterException')]);
    expect(s.stats).toMatchObject({ shipped: 2, dropped: 1 });
  });

  it('counts the events CloudWatch rejects as too old or too new', async () => {
    // Prepare
    cw.on(PutLogEventsCommand).resolves({ rejectedLogEventsInfo: { tooOldLogEventEndIndex: 1, tooNewLogEventStartIndex: 4 } });
    const s = shipper();

    // Act
    for (let i = 0; i < 6; i += 1) s.write(`e${i}`, 1000 + i);
    await s.flush();

    // Assess
    expect(s.stats).toMatchObject({ shipped: 2, rejected: 4 });
  });

  it('never makes a writer wait: lines are buffered while CloudWatch hangs, the oldest dropped beyond the cap and said so', async () => {
    // Prepare: CloudWatch does not answer until released.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    cw.on(PutLogEventsCommand).callsFake(async () => {
      await gate;
      return {};
    });
    const s = shipper({ maxBufferedBytes: 64 * 1024 });

    // Act
    const started = performance.now();
    for (let i = 0; i < 20_000; i += 1) s.write(`line ${String(i).padStart(6, '0')}`);
    const elapsed = performance.now() - started;
    release();
    await s.flush();

    // Assess
    expect(elapsed).toBeLessThan(2_000);
    const messages = puts().flatMap((p) => p.logEvents.map((e: { message: string }) => e.message));
    expect(messages.at(-1)).toBe('line 019999');
    expect(s.stats.dropped).toBeGreaterThan(0);
    expect(messages.some((m: string) => m.includes(`dropped ${s.stats.dropped - 0}`) || /dropped \d+ older lines/.test(m))).toBe(true);
  });

  it('flushes what is buffered on close, then accepts nothing more', async () => {
    // Prepare
    const s = shipper({ flushIntervalMs: 60_000 });
    s.write('last words');

    // Act
    await s.close(2_000);
    s.write('after close');
    await s.flush();

    // Assess
    expect(puts().flatMap((p) => p.logEvents.map((e: { message: string }) => e.message))).toEqual(['last words']);
  });
});

describe('Class: CloudWatchLogReader', () => {
  let cw: AwsStub<any, any, any>;
  let client: CloudWatchLogsClient;

  beforeEach(() => {
    cw = mockClient(CloudWatchLogsClient);
    client = new CloudWatchLogsClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  });

  afterEach(() => {
    cw.restore();
  });

  it('follows nextToken through empty pages and returns the events in time order', async () => {
    // Prepare
    cw.on(FilterLogEventsCommand)
      .resolvesOnce({ events: [{ timestamp: 3, logStreamName: 'c-1/worker', message: 'w boom\n', eventId: 'e3' }, { timestamp: 1, logStreamName: 'c-1/scheduler', message: 's boom' }], nextToken: 'a' })
      .resolvesOnce({ events: [], nextToken: 'b' })
      .resolvesOnce({ events: [{ timestamp: 2, logStreamName: 'c-1/worker', message: 'w2 boom' }] });
    const reader = new CloudWatchLogReader(client, GROUP);

    // Act
    const page = await reader.read({ clusterId: 'c-1', since: 1000, grep: 'boom' });

    // Assess
    expect(page.events.map((e) => [e.timestamp, e.component, e.message])).toEqual([
      [1, 'scheduler', 's boom'],
      [2, 'worker', 'w2 boom'],
      [3, 'worker', 'w boom'],
    ]);
    expect(page.nextToken).toBeUndefined();
    expect(cw.commandCalls(FilterLogEventsCommand).map((c) => c.args[0].input)).toEqual([
      { logGroupName: GROUP, logStreamNamePrefix: 'c-1/', startTime: 1000, filterPattern: '"boom"', limit: 10_000 },
      { logGroupName: GROUP, logStreamNamePrefix: 'c-1/', startTime: 1000, filterPattern: '"boom"', limit: 9_998, nextToken: 'a' },
      { logGroupName: GROUP, logStreamNamePrefix: 'c-1/', startTime: 1000, filterPattern: '"boom"', limit: 9_998, nextToken: 'b' },
    ]);
  });

  it('stops at the limit and hands back the token; one component reads its own stream prefix', async () => {
    // Prepare
    cw.on(FilterLogEventsCommand).resolves({ events: [{ timestamp: 1, logStreamName: 'c-1/scheduler', message: 'a' }, { timestamp: 2, logStreamName: 'c-1/scheduler', message: 'b' }], nextToken: 'more' });
    const reader = new CloudWatchLogReader(client, GROUP);

    // Act
    const page = await reader.read({ clusterId: 'c-1', component: 'scheduler', limit: 2 });

    // Assess
    expect(page).toMatchObject({ nextToken: 'more' });
    expect(page.events).toHaveLength(2);
    expect(cw.commandCalls(FilterLogEventsCommand)[0]?.args[0].input).toEqual({ logGroupName: GROUP, logStreamNamePrefix: 'c-1/scheduler', limit: 2 });
  });

  it('matches a text with a double quote in the reader (no filter pattern can quote it)', async () => {
    // Prepare
    cw.on(FilterLogEventsCommand).resolves({ events: [{ timestamp: 1, logStreamName: 'c-1/worker', message: 'key "x" missing' }, { timestamp: 2, logStreamName: 'c-1/worker', message: 'other' }] });

    // Act
    const page = await new CloudWatchLogReader(client, GROUP).read({ clusterId: 'c-1', grep: '"x"' });

    // Assess
    expect(page.events.map((e) => e.message)).toEqual(['key "x" missing']);
    expect(cw.commandCalls(FilterLogEventsCommand)[0]?.args[0].input.filterPattern).toBeUndefined();
  });

  it('creates the log group with its retention, idempotently, and refuses a retention CloudWatch does not offer', async () => {
    // Prepare
    cw.on(CreateLogGroupCommand).resolvesOnce({}).rejects(new ResourceAlreadyExistsException({ $metadata: { httpStatusCode: 400 }, message: 'The specified log group already exists' }));
    cw.on(PutRetentionPolicyCommand).resolves({});

    // Act
    await ensureLogGroup(client, GROUP, 30, { stage: 'test' });
    await ensureLogGroup(client, GROUP, 30, { stage: 'test' });
    const bad = await ensureLogGroup(client, GROUP, 10).catch((e: unknown) => e);

    // Assess
    expect(cw.commandCalls(CreateLogGroupCommand).map((c) => c.args[0].input)).toEqual([
      { logGroupName: GROUP, tags: { stage: 'test' } },
      { logGroupName: GROUP, tags: { stage: 'test' } },
    ]);
    expect(cw.commandCalls(PutRetentionPolicyCommand).map((c) => c.args[0].input)).toEqual([
      { logGroupName: GROUP, retentionInDays: 30 },
      { logGroupName: GROUP, retentionInDays: 30 },
    ]);
    expect(bad).toBeInstanceOf(LogsConfigError);
  });

  it('says when the logs of an ended cluster expired', () => {
    // Act
    const before = expiredLogs('c-1', '2026-01-01T00:00:00.000Z', 30, Date.parse('2026-01-30T00:00:00Z'));
    const after = expiredLogs('c-1', '2026-01-01T00:00:00.000Z', 30, Date.parse('2026-02-01T00:00:00Z'));

    // Assess
    expect(before).toBeUndefined();
    expect(after).toBeInstanceOf(LogsExpiredError);
    expect(after?.message).toBe('the logs of cluster c-1 expired on 2026-01-31T00:00:00.000Z (kept 30 days after the last line)');
    expect(after?.statusCode).toBe(410);
  });
});

describe('EKS access entry and namespace-scoped policy association (exact inputs)', () => {
  it('grants the owner read-only access scoped to their namespace at create, and removes it at delete', async () => {
    const stack = await startEksStack();
    try {
      // Prepare
      const backend = stack.makeBackend();
      const def = testDefinition({ clusterId: 'c-ae', owner: 'alice', workers: 1 });
      const principalArn = 'arn:aws:iam::123456789012:role/recc-user-alice';

      // Act
      await backend.apply(def, testSecrets('c-ae'));
      const created = stack.eks.stub!.commandCalls(CreateAccessEntryCommand).map((c) => c.args[0].input);
      const associated = stack.eks.stub!.commandCalls(AssociateAccessPolicyCommand).map((c) => c.args[0].input);
      await backend.teardown('c-ae');
      const deleted = stack.eks.stub!.commandCalls(DeleteAccessEntryCommand).map((c) => c.args[0].input);

      // Assess
      expect(created).toEqual([
        { clusterName: 'recc-test', principalArn, kubernetesGroups: ['recc:user:alice'], type: 'STANDARD', tags: { user: 'alice', 'recc.io/managed-by': 'recc' } },
      ]);
      expect(associated).toEqual([
        { clusterName: 'recc-test', principalArn, policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy', accessScope: { type: 'namespace', namespaces: [def.namespace] } },
      ]);
      expect(deleted).toEqual([{ clusterName: 'recc-test', principalArn }]);
      expect(stack.eks.entries.size).toBe(0);
    } finally {
      await stack.close();
    }
  });
});
