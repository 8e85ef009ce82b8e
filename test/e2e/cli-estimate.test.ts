import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from '../support/cli-run.ts';

/** Run `node bin/recc.mjs ...args` to completion. */
const recc = (args: string[], cwd?: string): Promise<CliRun> => runCli(args, cwd === undefined ? {} : { cwd });

const dir = mkdtempSync(join(tmpdir(), 'recc-cli-estimate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Command: recc estimate', () => {
  it('prints the default spec on c5.xlarge with 20 workers and its 7-node plan when given --json only', async () => {
    // Act
    const run = await recc(['estimate', '--json']);
    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout).data as { spec: Record<string, unknown>; plan: Record<string, unknown> };
    expect(out.spec).toMatchObject({ instanceType: 'c5.xlarge', nWorkers: 20, workerCpu: 1, workerMemoryGiB: 1.5 });
    // 7 nodes: see the hand computation in test/unit/plan/planner.test.ts
    expect(out.plan).toMatchObject({ instanceType: 'c5.xlarge', instances: 7, workersPerInstance: 3, boundBy: 'cpu', costPerHour: 1.29 });
  });

  it('exits 2 and lists both problems, the second naming c5.xlarge, when given --workers -3 --instance-type c5.xlarge2', async () => {
    // Act
    const run = await recc(['estimate', '--workers', '-3', '--instance-type', 'c5.xlarge2']);
    // Assess
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trim().split('\n');
    expect(lines).toEqual([
      'error: invalid cluster spec: 2 problems',
      '  - nWorkers: must be a positive whole number (got -3)',
      expect.stringMatching(/^ {2}- instanceType: unknown instance type "c5\.xlarge2"; nearest: .*\bc5\.xlarge\b/),
    ]);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('prints a short readable table when given no --json', async () => {
    const run = await recc(['estimate', '--template', 'memory-heavy-r5', '--workers', '8']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/instance type\s+r5\.2xlarge/);
    expect(run.stdout).toMatch(/nodes\s+2\n/);
    expect(run.stdout).toMatch(/workers per node\s+4 \(bound by memory\)/);
    expect(run.stdout).toMatch(/cost\s+\$1\.108\/h \(EC2 \$1\.008 \+ EKS control plane \$0\.10\)/);
  });

  it('applies the flags over a YAML file given by path', async () => {
    // Prepare
    const path = join(dir, 'gpu.yaml');
    writeFileSync(path, 'spec:\n  instanceType: g5.xlarge\n  nWorkers: 2\n  workerCpu: 2\n  workerMemoryGiB: 8\n');
    // Act
    const run = await recc(['estimate', '--template', path, '--resource', 'GPU=1', '--workers', '3', '--json']);
    // Assess
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout).data as { spec: { resources: unknown; nWorkers: number }; plan: { instances: number; boundBy: string } };
    expect(out.spec.resources).toEqual({ GPU: 1 });
    expect(out.spec.nWorkers).toBe(3);
    expect(out.plan).toMatchObject({ instances: 3, boundBy: 'gpus' });
  });

  it('exits 2 when given an unknown template, listing the known ones', async () => {
    const run = await recc(['estimate', '--template', 'nope']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('template: unknown template "nope"; known templates: default, gpu-p3, large-cluster-large-workers');
  });

  it('exits 2 when given an unknown region or a bad control plane share', async () => {
    const region = await recc(['estimate', '--region', 'mars-1']);
    expect(region.code).toBe(2);
    expect(region.stderr).toContain('no prices recorded for region "mars-1"');
    const share = await recc(['estimate', '--control-plane-share', '2']);
    expect(share.code).toBe(2);
    expect(share.stderr).toContain('controlPlaneShare: must be a number from 0 to 1 (got "2")');
  });

  it('exits 2 naming every problem at once when spec flags, --env, --region and --control-plane-share are all wrong', async () => {
    // Act
    const run = await recc(['estimate', '--workers', '-3', '--env', 'FOO', '--region', 'mars-1', '--control-plane-share', '2']);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('nWorkers: must be a positive whole number (got -3)');
    expect(run.stderr).toContain('env.FOO: --env expected NAME=VALUE (got "FOO")');
    expect(run.stderr).toContain('region: no prices recorded for region "mars-1"');
    expect(run.stderr).toContain('controlPlaneShare: must be a number from 0 to 1 (got "2")');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('states an unknown region once, in the problem list, when it is the only problem', async () => {
    // Act
    const run = await recc(['estimate', '--region', 'mars-1']);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr.match(/no prices recorded/g)).toHaveLength(1);
  });
});

describe('Command: recc templates', () => {
  it('lists the templates as JSON when given --json', async () => {
    const run = await recc(['templates', '--json']);
    expect(run.code).toBe(0);
    const templates = JSON.parse(run.stdout).data as Array<{ name: string; description: string; spec: Record<string, unknown> }>;
    expect(templates.map((t) => t.name)).toEqual(expect.arrayContaining(['default', 'large-cluster-large-workers', 'memory-heavy-r5', 'gpu-p3']));
    expect(templates.find((t) => t.name === 'gpu-p3')?.spec).toMatchObject({ instanceType: 'p3.2xlarge', resources: { GPU: 1 } });
  });

  it('prints a table with nodes and $/hour when given no --json', async () => {
    const run = await recc(['templates']);
    expect(run.code).toBe(0);
    expect(run.stdout.split('\n')[0]).toMatch(/^NAME\s+INSTANCE\s+WORKERS\s+NODES\s+\$\/HOUR\s+DESCRIPTION$/);
    expect(run.stdout).toMatch(/^default\s+c5\.xlarge\s+20 × 1 vCPU\/1\.5 GiB\s+7\s+\$1\.29\s/m);
  });
});
