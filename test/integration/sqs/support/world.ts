import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';
import type { ClusterLike } from '../../../../client/cluster-like.ts';
import { freePorts } from '../../../../comm/free-ports.ts';
import { processEntry } from '../../../../comm/launch.ts';
import type { SqsRoute } from '../../../../comm/sqs-envelope/route.ts';
import type { CompactionPolicy } from '../../../../scheduler/sqs-bridge/compaction.ts';
import { sqsBridgeEnv, type SqsBridgeConfig, type SubmissionStoreConfig } from '../../../../scheduler/sqs-bridge/config.ts';
import { clusterQueueTags } from '../../../../shared/ports/cluster-queues.ts';
import { waitFor } from '../../../support/wait.ts';

/**
 * The SQS route's world for tests: fauxqs (SQS and S3 on one port) with the
 * cluster's request queue (FIFO, DLQ after 5 receives) and payload bucket,
 * and a scheduler whose bridge serves them, plus workers, as real processes.
 * The scheduler can be killed (-9) and started again on the same port and
 * state directory, as a respawning backend would.
 */
export const CREDENTIALS = { accessKeyId: 'recc-test', secretAccessKey: 'recc-test' };
export const REGION = 'us-east-1';

export interface SqsWorld {
  endpoint: string;
  route: SqsRoute;
  sqs: SQSClient;
  s3: S3Client;
  stop(): Promise<void>;
}

/** fauxqs on `host` (127.0.0.1, or a veth address for the network-namespace test) with the cluster's queues and bucket. */
export async function startSqsWorld(options: { host?: string; clusterId?: string; endpointFor?: (endpoint: string) => string } = {}): Promise<SqsWorld> {
  const host = options.host ?? '127.0.0.1';
  const app = buildApp({ logger: false, defaultRegion: REGION });
  const listened = await app.listen({ port: 0, host });
  const endpoint = options.endpointFor ? options.endpointFor(listened) : listened;
  const clusterId = options.clusterId ?? `c-${randomBytes(4).toString('hex')}`;
  const sqs = new SQSClient({ region: REGION, endpoint, credentials: CREDENTIALS });
  const s3 = new S3Client({ region: REGION, endpoint, forcePathStyle: true, credentials: CREDENTIALS });
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `recc-${clusterId}-dlq.fifo`, Attributes: { FifoQueue: 'true' } }));
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
  const requests = await sqs.send(
    new CreateQueueCommand({
      QueueName: `recc-${clusterId}-req.fifo`,
      // Tagged for cost as the provisioner tags it (the SQS transport copies these onto each session's reply queue).
      tags: clusterQueueTags('recc-', { owner: 'alice@example.com', namespace: `recc-${clusterId}`, clusterId, job: 'nightly' }),
      Attributes: { FifoQueue: 'true', VisibilityTimeout: '30', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: '5' }) },
    }),
  );
  const bucket = 'recc-payloads';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const route: SqsRoute = {
    clusterId,
    requestQueueUrl: requests.QueueUrl as string,
    deadLetterQueueUrl: dlq.QueueUrl as string,
    region: REGION,
    endpoint,
    bucket,
    prefix: `clusters/${clusterId}/payloads/`,
    s3Endpoint: endpoint,
    replyQueuePrefix: `recc-${clusterId}-reply-`,
    credentials: CREDENTIALS,
  };
  return {
    endpoint,
    route,
    sqs,
    s3,
    stop: async () => {
      sqs.destroy();
      s3.destroy();
      await app.close();
    },
  };
}

interface Proc {
  child: ChildProcess;
  lines: string[];
  exited: Promise<void>;
}

function launch(kind: 'scheduler' | 'worker', args: string[], env: Record<string, string | undefined>): Proc {
  const entry = processEntry(kind);
  const child = spawn(process.execPath, [...entry.execArgv, entry.path, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const lines: string[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) if (p) lines.push(p);
    if (lines.length > 5000) lines.splice(0, lines.length - 5000);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, lines, exited };
}

/** A scheduler with its SQS bridge and workers, as child processes. */
export class BridgedCluster implements ClusterLike {
  readonly token = randomBytes(18).toString('base64url');
  readonly schedulerAddress: string;
  readonly sqsRoute: SqsRoute;
  private scheduler: Proc | undefined;
  private workers: Proc[] = [];
  /** Every scheduler log line, over restarts. */
  readonly schedulerLines: string[] = [];
  private readonly tokenFile: string;

  private constructor(
    readonly world: SqsWorld,
    readonly dir: string,
    private readonly port: number,
    private readonly nWorkers: number,
    private readonly store?: SubmissionStoreConfig,
    private readonly compaction?: Partial<CompactionPolicy>,
    private readonly bridge: Pick<SqsBridgeConfig, 'sessionGraceMs' | 'dedup'> = {},
  ) {
    this.tokenFile = join(dir, 'token');
    writeFileSync(this.tokenFile, this.token, { mode: 0o600 });
    this.schedulerAddress = `tcp://127.0.0.1:${port}`;
    this.sqsRoute = world.route;
  }

  /** `store`: where the bridge keeps its submission record (default: the file in stateDir); `compaction`: when it is rewritten. */
  static async start(
    world: SqsWorld,
    options: { nWorkers?: number; store?: SubmissionStoreConfig; compaction?: Partial<CompactionPolicy>; bridge?: Pick<SqsBridgeConfig, 'sessionGraceMs' | 'dedup'> } = {},
  ): Promise<BridgedCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'recc-sqs-'));
    const [port] = await freePorts(1);
    const cluster = new BridgedCluster(world, dir, port as number, options.nWorkers ?? 2, options.store, options.compaction, options.bridge);
    await cluster.startProcesses();
    return cluster;
  }

  get stateDir(): string {
    return join(this.dir, 'state');
  }

  private async startProcesses(): Promise<void> {
    const { credentials, ...route } = this.world.route;
    const env = { ...process.env, ...sqsBridgeEnv({ route, stateDir: this.stateDir, ...(credentials ? { credentials } : {}), ...(this.store ? { store: this.store } : {}), ...(this.compaction ? { compaction: this.compaction } : {}), ...this.bridge }) };
    const scheduler = launch('scheduler', ['--port', String(this.port), '--token-file', this.tokenFile, '--heartbeat-timeout', '30'], env);
    this.scheduler = scheduler;
    const before = this.schedulerLines.length;
    scheduler.child.stdout?.on('data', () => this.schedulerLines.push(...scheduler.lines.splice(0)));
    scheduler.child.stderr?.on('data', () => this.schedulerLines.push(...scheduler.lines.splice(0)));
    await waitFor(() => this.schedulerLines.slice(before).some((l) => l.includes('"scheduler.ready"')) || (scheduler.child.exitCode !== null ? 'exited' : undefined), {
      timeoutMs: 60_000,
      what: 'the scheduler to be ready',
    }).then((v) => {
      if (v === 'exited') throw new Error(`the scheduler exited: ${this.schedulerLines.slice(-10).join('\n')}`);
    });
    this.workers = Array.from({ length: this.nWorkers }, (_, i) =>
      launch('worker', [this.schedulerAddress, '--token-file', this.tokenFile, '--name', `w${i}-${randomBytes(2).toString('hex')}`, '--nthreads', '1'], process.env),
    );
    await waitFor(() => this.workers.every((w) => w.lines.some((l) => l.includes('"worker.ready"'))), { timeoutMs: 60_000, what: 'the workers to be ready' });
  }

  get schedulerPid(): number {
    return this.scheduler?.child.pid as number;
  }

  /** kill -9 the scheduler; its workers are stopped too (a respawn brings new ones, as a Deployment restart would). */
  async killScheduler(): Promise<void> {
    const s = this.scheduler;
    if (!s) return;
    s.child.kill('SIGKILL');
    await s.exited;
    for (const w of this.workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(this.workers.map((w) => w.exited));
  }

  /**
   * Start the scheduler again on the same port, with fresh workers (a respawn).
   * `freshStateDir`: its local state directory is gone, as for a pod started on another node.
   */
  async restartScheduler(options: { freshStateDir?: boolean } = {}): Promise<void> {
    if (options.freshStateDir) rmSync(this.stateDir, { recursive: true, force: true });
    await this.startProcesses();
  }

  async close(): Promise<void> {
    const all = [this.scheduler, ...this.workers].filter((p): p is Proc => p !== undefined && p.child.exitCode === null && p.child.signalCode === null);
    for (const p of all) p.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      for (const p of all) p.child.kill('SIGKILL');
    }, 10_000);
    await Promise.all(all.map((p) => p.exited));
    clearTimeout(timer);
    rmSync(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
