import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, delayed } from '../../../client/index.ts';
import { repoPath } from '../../support/engine.ts';
import { BridgedCluster, startSqsWorld, type SqsWorld } from './support/world.ts';

/**
 * Outside the network, for real: a client in its own network namespace
 * (veth pair to this host) reaches the SQS/S3 emulator on the host's veth
 * address but not the scheduler, which listens on the host's loopback. The
 * test proves the TCP connection fails from inside, then runs a 1,000-task
 * map and a delayed graph from there over SQS (the client falls back by
 * itself) and compares with the same work over TCP from the host.
 */
const isRoot = process.getuid?.() === 0;
const hasIp = (() => {
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const why = !isRoot ? 'needs root (ip netns, veth)' : !hasIp ? 'needs iproute2 (ip netns)' : '';
if (why) console.warn(`skipping the network-namespace SQS test: ${why}`);

describe.skipIf(why !== '')('SQS route: a client in a network namespace without a route to the scheduler', () => {
  const tag = randomBytes(3).toString('hex');
  const ns = `recc-sqs-${tag}`;
  const hostIf = `rsh${tag}`;
  const nsIf = `rsn${tag}`;
  const octet = 16 + (parseInt(tag.slice(0, 2), 16) % 200);
  const hostIp = `10.231.${octet}.1`;
  const nsIp = `10.231.${octet}.2`;
  let world: SqsWorld;
  let cluster: BridgedCluster;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

  beforeAll(async () => {
    ip('netns', 'add', ns);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    ip('link', 'set', nsIf, 'netns', ns);
    ip('addr', 'add', `${hostIp}/30`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', nsIf);
    ip('netns', 'exec', ns, 'ip', 'link', 'set', nsIf, 'up');
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    // The emulator listens on the veth address only; the scheduler on the host's loopback.
    world = await startSqsWorld({ host: hostIp });
    cluster = await BridgedCluster.start(world, { nWorkers: 2 });
  });

  afterAll(async () => {
    await cluster?.close();
    await world?.stop();
    try {
      ip('netns', 'del', ns);
    } catch {}
    try {
      ip('link', 'del', hostIf);
    } catch {}
  });

  it('cannot reach the scheduler over TCP, runs the same work over SQS, with results identical to TCP', async () => {
    // Prepare: the same work over TCP from the host
    await using tcp = await Client.connect(cluster, { transport: 'tcp' });
    const tcpMap = await tcp.gather(tcp.map((x: number) => ({ x, y: x * x + 1 }), Array.from({ length: 1000 }, (_, i) => i)));
    const inc = delayed((x: number) => x + 1);
    const total = delayed((xs: number[]) => xs.reduce((a, b) => a + b, 0));
    const tcpGraph = await tcp.get(total([1, 2, 3, 4].map((x) => inc(inc(x)))));

    // Act: the client inside the namespace
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        'ip',
        ['netns', 'exec', ns, process.execPath, '--import', import.meta.resolve('tsx/esm'), repoPath('test/integration/sqs/fixtures/netns-client.ts')],
        {
          env: {
            ...process.env,
            RECC_TRANSPORT: '',
            RECC_TEST_ROUTE: JSON.stringify(cluster.sqsRoute),
            RECC_TEST_ADDRESS: cluster.schedulerAddress,
            RECC_TEST_TOKEN: cluster.token,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });

    // Assess
    expect(out.code, out.stderr).toBe(0);
    const result = JSON.parse(out.stdout.trim().split('\n').at(-1) ?? '{}') as { tcpProbe: string; notices: string[]; mapResults: unknown[]; graphResult: number };
    expect(result.tcpProbe).toMatch(/ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH/);
    expect(result.notices.some((l) => l.includes('over SQS') && l.includes('did not answer'))).toBe(true);
    expect(result.mapResults).toEqual(tcpMap);
    expect(result.graphResult).toBe(tcpGraph);
  });
});
