/**
 * The SQS route (issue 12) on one machine: fauxqs (SQS + S3) in this
 * process, a LocalCluster whose scheduler runs the SQS bridge, and a client
 * that talks to it only through the request and reply queues.
 *
 * - sqs_map_noop: 10,000 no-op tasks submitted and gathered over SQS;
 * - sqs_latency_p50: one small task submitted and awaited, sequentially;
 * - sqs_requests_per_1000_tasks: SQS and S3 requests seen by the emulator
 *   per 1,000 tasks of the map (both sides, 64 KiB chunks counted as AWS
 *   bills them), and the dollar cost per million tasks at AWS list prices.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { buildApp } from 'fauxqs';
import type { SqsRoute } from '../../comm/sqs-envelope/route.ts';
import { sqsBridgeEnv } from '../../scheduler/sqs-bridge/config.ts';
import { median, percentile } from '../lib/stats.ts';
import type { GroupContext } from './engine-measures.ts';

/** AWS list prices (us-east-1): SQS FIFO per million requests (each 64 KiB chunk is a request), S3 PUT and GET per thousand. */
export const PRICES = { sqsFifoPerMillion: 0.5, sqsStandardPerMillion: 0.4, s3PutPerThousand: 0.005, s3GetPerThousand: 0.0004 };

interface Counts {
  sqsChunks: number;
  sqsCalls: number;
  s3Put: number;
  s3Get: number;
  s3Other: number;
}

export async function runSqsGroup(ctx: GroupContext): Promise<void> {
  const counts: Counts = { sqsChunks: 0, sqsCalls: 0, s3Put: 0, s3Get: 0, s3Other: 0 };
  const app = buildApp({ logger: false, defaultRegion: 'us-east-1' });
  // Count every request at the emulator (client and bridge alike), as AWS would bill it.
  app.addHook('onResponse', async (req, reply) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target.startsWith('AmazonSQS.')) {
      const bytes = Math.max(Number(req.headers['content-length'] ?? 0), Number(reply.getHeader('content-length') ?? 0));
      counts.sqsCalls++;
      counts.sqsChunks += Math.max(1, Math.ceil(bytes / (64 * 1024)));
    } else if (req.method === 'PUT') counts.s3Put++;
    else if (req.method === 'GET') counts.s3Get++;
    else counts.s3Other++;
  });
  const endpoint = await app.listen({ port: 0, host: '127.0.0.1' });
  const credentials = { accessKeyId: 'recc-bench', secretAccessKey: 'recc-bench' };
  const sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials });
  const s3 = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials });
  const clusterId = `c-bench${randomBytes(3).toString('hex')}`;
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `recc-${clusterId}-dlq.fifo`, Attributes: { FifoQueue: 'true' } }));
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes?.QueueArn;
  const requests = await sqs.send(
    new CreateQueueCommand({
      QueueName: `recc-${clusterId}-req.fifo`,
      Attributes: { FifoQueue: 'true', VisibilityTimeout: '30', RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: '5' }) },
    }),
  );
  await s3.send(new CreateBucketCommand({ Bucket: 'recc-bench' }));
  const route: SqsRoute = {
    clusterId,
    requestQueueUrl: requests.QueueUrl as string,
    deadLetterQueueUrl: dlq.QueueUrl as string,
    region: 'us-east-1',
    endpoint,
    bucket: 'recc-bench',
    prefix: `clusters/${clusterId}/payloads/`,
    s3Endpoint: endpoint,
    replyQueuePrefix: `recc-${clusterId}-reply-`,
  };
  const stateDir = mkdtempSync(join(tmpdir(), 'recc-sqs-bench-'));
  // The scheduler LocalCluster starts inherits this process's environment: that configures its bridge.
  Object.assign(process.env, sqsBridgeEnv({ route, stateDir, credentials }));
  const { LocalCluster, Client } = await import('../../client/index.ts');
  const cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
  try {
    const client = await Client.connect(cluster, { transport: 'sqs', sqsRoute: { ...route, credentials }, onNotice: () => undefined });
    try {
      const k = (n: number) => Math.max(2, Math.round(n * ctx.scale));
      // Warm-up (functions shipped, connections open, code paths compiled).
      await client.gather(client.map((x: number) => x, Array.from({ length: 1000 }, (_, i) => -1 - i)));

      const n = k(ctx.quick ? 2_000 : 10_000);
      const reps = ctx.quick ? 1 : 3;
      const rates: number[] = [];
      const perThousand: number[] = [];
      const costs: number[] = [];
      let offset = 0;
      for (let r = 0; r < reps; r++) {
        const before = { ...counts };
        const items = Array.from({ length: n }, (_, i) => offset + i);
        offset += n;
        const t0 = process.hrtime.bigint();
        const futures = client.map((x: number) => x, items);
        await client.gather(futures);
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        for (const f of futures) f.release();
        rates.push(n / s);
        // Releases go out after the gather: let them land before counting.
        await new Promise((res) => setTimeout(res, 300));
        const sqsChunks = counts.sqsChunks - before.sqsChunks;
        const put = counts.s3Put - before.s3Put;
        const get = counts.s3Get - before.s3Get;
        perThousand.push(((sqsChunks + put + get) / n) * 1000);
        const dollars = sqsChunks * (PRICES.sqsFifoPerMillion / 1e6) + put * (PRICES.s3PutPerThousand / 1e3) + get * (PRICES.s3GetPerThousand / 1e3);
        costs.push((dollars / n) * 1e6);
      }
      ctx.emit('sqs_map_noop', median(rates), 'tasks/s', { tasks: n, reps, samples: rates.map((x) => Math.round(x)) });
      ctx.emit('sqs_requests_per_1000_tasks', median(perThousand), 'requests', { samples: perThousand.map((x) => Math.round(x * 10) / 10), note: 'SQS 64 KiB chunks + S3 PUT/GET, both sides, incl. idle long polls' });
      ctx.emit('sqs_cost_per_million_tasks', median(costs), '$', { prices: PRICES });

      const m = k(ctx.quick ? 50 : 200);
      const lat: number[] = [];
      for (let i = 0; i < m; i++) {
        const t0 = process.hrtime.bigint();
        const f = client.submit((x: number) => x + 1, 1e9 + i);
        await f.result();
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        f.release();
      }
      // The same loop over TCP to the same cluster, right after: what the machine's load costs any route.
      const tcp = await Client.connect(cluster, { transport: 'tcp' });
      const tcpLat: number[] = [];
      try {
        for (let i = 0; i < m; i++) {
          const t0 = process.hrtime.bigint();
          const f = tcp.submit((x: number) => x + 2, 2e9 + i);
          await f.result();
          tcpLat.push(Number(process.hrtime.bigint() - t0) / 1e6);
          f.release();
        }
      } finally {
        await tcp.close();
      }
      ctx.emit('sqs_latency_p50', median(lat), 'ms', { p99Ms: percentile(lat, 99), rounds: m, tcpP50MsSameRun: median(tcpLat) });
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
    sqs.destroy();
    s3.destroy();
    await app.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
