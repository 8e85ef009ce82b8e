import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin/recc.mjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `node bin/recc.mjs ...args` to completion. */
function recc(args: string[], cwd = ROOT): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'recc-cli-estimate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Command: recc estimate', () => {
  it('prints the default spec on c5.xlarge with 20 workers and its 7-node plan when given --json only', async () => {
    // Act
    const run = await recc(['estimate', '--json']);
    // Assess
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as { spec: Record<string, unknown>; plan: Record<string, unknown> };
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
    const out = JSON.parse(run.stdout) as { spec: { resources: unknown; nWorkers: number }; plan: { instances: number; boundBy: string } };
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
});

describe('Command: recc templates', () => {
  it('lists the templates as JSON when given --json', async () => {
    const run = await recc(['templates', '--json']);
    expect(run.code).toBe(0);
    const templates = JSON.parse(run.stdout) as Array<{ name: string; description: string; spec: Record<string, unknown> }>;
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
