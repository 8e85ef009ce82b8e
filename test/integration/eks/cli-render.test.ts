import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';

/**
 * Must show: `recc render --template T [spec flags] [--backend eks]` prints
 * the Kubernetes manifests as YAML and no secret values: the token and keys
 * appear only as references. Runs the real CLI as a child process.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SECRET_IN_ENV = 'tok-that-must-never-be-printed-9f3a';

function recc(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [join(ROOT, 'bin', 'recc.mjs'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, RECC_SCHEDULER_TOKEN: SECRET_IN_ENV, RECC_TOKEN: SECRET_IN_ENV, ...env },
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function assertNoSecretMaterial(text: string): void {
  expect(text).not.toMatch(/-----BEGIN [A-Z ]*-----/);
  expect(text).not.toContain(SECRET_IN_ENV);
}

describe('Command: recc render', () => {
  it('prints every Kubernetes object as YAML with secret references instead of values', () => {
    // Act
    const out = recc(['render', '--template', 'default', '--workers', '5', '--owner', 'arathe', '--cluster-id', 'c-demo1', '--source-branch', 'feature/prices']);

    // Assess
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const docs = parseAllDocuments(out.stdout).map((d) => d.toJS() as any);
    expect(docs.map((d) => d.kind)).toEqual([
      'Namespace',
      'ServiceAccount',
      'Role',
      'RoleBinding',
      'NetworkPolicy',
      'NetworkPolicy',
      'NetworkPolicy',
      'NetworkPolicy', // the control plane to the dashboard (issue 22 #5)
      'NetworkPolicy', // egress: DNS, own pods, HTTPS, never the metadata service (issue 17 #5)
      'ResourceQuota',
      'LimitRange',
      'Secret',
      'ConfigMap',
      'PersistentVolume', // the branch on EFS through the CSI driver, this cluster's only
      'PersistentVolumeClaim',
      'Service',
      'PodDisruptionBudget', // the scheduler's (issue 17 #8)
      'Deployment',
      'Deployment',
    ]);
    const secret = docs.find((d) => d.kind === 'Secret');
    expect(secret.data).toBeUndefined();
    expect(secret.stringData).toEqual({
      token: '<secret:recc-cluster-tls/token>',
      'ca.pem': '<secret:recc-cluster-tls/ca.pem>',
      'tls.crt': '<secret:recc-cluster-tls/tls.crt>',
      'tls.key': '<secret:recc-cluster-tls/tls.key>',
    });
    const ns = docs[0];
    expect(ns.metadata.labels).toMatchObject({ 'recc.io/owner': 'arathe', 'recc.io/cluster': 'c-demo1' });
    const worker = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'recc-worker');
    expect(worker.spec.replicas).toBe(5);
    expect(worker.spec.template.spec.nodeSelector).toEqual({ 'recc.io/nodegroup': 'arathe-c5-xlarge-nodegroup' });
    expect(worker.spec.template.spec.volumes.find((v: any) => v.name === 'recc-source')).toEqual({ name: 'recc-source', persistentVolumeClaim: { claimName: 'recc-source', readOnly: true } });
    expect(docs.find((d) => d.kind === 'PersistentVolume').spec.csi.volumeHandle).toMatch(/^fs-[0-9a-f]+:\/branches\/feature\/prices$/);
    assertNoSecretMaterial(out.stdout);
  });

  it('uses the service mode and desktop CIDRs given on the command line', () => {
    // Act
    const out = recc(['render', '--service-mode', 'clusterip-ingress', '--allowed-cidr', '172.16.0.0/12', '--owner', 'bkim', '--json']);

    // Assess
    expect(out.code).toBe(0);
    const objects = JSON.parse(out.stdout).data as any[];
    const service = objects.find((o) => o.kind === 'Service');
    expect(service.spec.type).toBe('ClusterIP');
    expect(objects.find((o) => o.kind === 'Ingress').spec.rules[0].host).toMatch(/^c-preview\./);
    const desktops = objects.find((o) => o.metadata.name === 'recc-allow-desktops-to-scheduler');
    expect(desktops.spec.ingress[0].from).toEqual([{ ipBlock: { cidr: '172.16.0.0/12' } }]);
    assertNoSecretMaterial(out.stdout);
  });

  it('prints the local process definition with --backend local', () => {
    // Act
    const out = recc(['render', '--backend', 'local', '--workers', '2', '--owner', 'arathe']);

    // Assess
    expect(out.code).toBe(0);
    const def = parse(out.stdout) as any;
    expect(def.scheduler.args[0]).toBe('scheduler');
    expect(def.workers.replicas).toBe(2);
    assertNoSecretMaterial(out.stdout);
  });

  it('exits 2 and lists every problem when the spec flags are invalid', () => {
    // Act
    const out = recc(['render', '--workers', '-3', '--instance-type', 'c5.xlarge2']);

    // Assess
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/nWorkers/);
    expect(out.stderr).toMatch(/c5\.xlarge/);
    expect(out.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 2 naming a bad spec flag, an --env without "=" and an impossible CIDR together, each once', () => {
    // Act
    const out = recc(['render', '--workers', '-3', '--env', 'FOO', '--allowed-cidr', '300.0.0.0/8']);
    const cidrOnly = recc(['render', '--allowed-cidr', '10.0.0.0/33']);

    // Assess
    expect(out.code).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toContain('nWorkers: must be a positive whole number (got -3)');
    expect(out.stderr).toContain('env.FOO: --env expected NAME=VALUE (got "FOO")');
    expect(out.stderr).toContain('allowedCidrs[0]: "300.0.0.0/8" is not an IPv4 CIDR');
    expect(cidrOnly.code).toBe(2);
    expect(cidrOnly.stderr.match(/10\.0\.0\.0\/33/g)).toHaveLength(1);
  });
});
