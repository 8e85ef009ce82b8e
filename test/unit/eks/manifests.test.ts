import { TEST_EKS_IMAGE } from '../../support/eks-image.ts';
import { LOCAL_IMAGE } from '../../../shared/spec/image.ts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SOURCE_MOUNT_PATH,
  buildClusterManifests,
  type ManifestOptions,
} from '../../../adapters/eks/manifests/build.ts';
import { nodeGroupName, parseCpu, parseMemory, userKubernetesGroup } from '../../../adapters/eks/manifests/naming.ts';
import { EksManifestError } from '../../../adapters/eks/errors.ts';
import type { K8sObject } from '../../../adapters/eks/manifests/types.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import type { ClusterDefinition } from '../../../shared/definition/types.ts';
import { planCluster } from '../../../shared/plan/planner.ts';
import { resolveSpec } from '../../../shared/spec/resolve.ts';
import { testSecrets } from '../../support/eks-stack.ts';

const OPTIONS: ManifestOptions = {
  allowedCidrs: ['10.20.0.0/16', '192.168.10.0/24'],
  serviceMode: 'nlb',
  efsFileSystemId: 'fs-0123456789abcdef0',
  efsRegion: 'eu-west-1',
};

function definition(overrides: Record<string, unknown> = {}, input: { owner?: string; job?: string; workers?: number } = {}): ClusterDefinition {
  const spec = resolveSpec({ overrides: { nWorkers: 4, ...overrides } });
  const plan = planCluster(spec);
  return renderCluster({
    clusterId: 'c-abc123',
    owner: input.owner ?? 'arathe',
    namespace: 'recc-arathe-abc123',
    ...(input.job ? { job: input.job } : {}),
    spec,
    plan,
    ...(input.workers !== undefined ? { desiredWorkers: input.workers } : {}),
  }, { defaultImage: TEST_EKS_IMAGE });
}

function find(objects: K8sObject[], kind: string, name?: string): any {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o) throw new Error(`no ${kind} ${name ?? ''}`);
  return o;
}

const build = (def: ClusterDefinition, options: ManifestOptions = OPTIONS) =>
  buildClusterManifests(def, { ...options, nodes: def.plan.instances, appliedAt: '2026-11-27T06:00:00.000Z' }, { kind: 'values', secrets: testSecrets(def.clusterId) });

describe('Function: buildClusterManifests', () => {
  it('labels the namespace with user, job and cluster and records what node capacity needs', () => {
    // Prepare
    const def = definition({}, { job: 'nightly-backfill' });

    // Act
    const ns = find(build(def), 'Namespace');

    // Assess
    expect(ns.metadata.name).toBe('recc-arathe-abc123');
    expect(ns.metadata.labels).toMatchObject({ 'recc.io/owner': 'arathe', 'recc.io/job': 'nightly-backfill', 'recc.io/cluster': 'c-abc123', 'recc.io/managed-by': 'recc', 'recc.io/state': 'active' });
    expect(ns.metadata.annotations).toMatchObject({
      'recc.io/owner': 'arathe',
      'recc.io/cluster-id': 'c-abc123',
      'recc.io/instance-type': 'c5.xlarge',
      'recc.io/node-group': 'arathe-c5-xlarge-nodegroup',
      'recc.io/nodes': String(def.plan.instances),
      'recc.io/applied-at': '2026-11-27T06:00:00.000Z',
    });
  });

  it('binds the user group to a Role in the namespace only', () => {
    // Act
    const objects = build(definition());
    const role = find(objects, 'Role');
    const binding = find(objects, 'RoleBinding');

    // Assess
    expect(role.metadata.namespace).toBe('recc-arathe-abc123');
    expect(binding.metadata.namespace).toBe('recc-arathe-abc123');
    expect(binding.subjects).toEqual([{ kind: 'Group', name: 'recc:user:arathe', apiGroup: 'rbac.authorization.k8s.io' }]);
    expect(binding.roleRef).toEqual({ kind: 'Role', name: role.metadata.name, apiGroup: 'rbac.authorization.k8s.io' });
    expect(objects.some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toBe(false);
    // No write verbs on the cluster's objects: the user reads, port-forwards and reads logs.
    const verbs = role.rules.flatMap((r: any) => r.verbs);
    expect(verbs).not.toContain('delete');
    expect(verbs).not.toContain('update');
  });

  it('denies ingress by default, allows the namespace, and lets only desktop CIDRs reach the scheduler and dashboard ports', () => {
    // Act
    const policies = build(definition()).filter((o) => o.kind === 'NetworkPolicy') as any[];

    // Assess
    const deny = policies.find((p) => p.metadata.name === 'recc-default-deny-ingress');
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress'] });
    const same = policies.find((p) => p.metadata.name === 'recc-allow-same-namespace');
    expect(same.spec.ingress).toEqual([{ from: [{ podSelector: {} }] }]);
    const desktops = policies.find((p) => p.metadata.name === 'recc-allow-desktops-to-scheduler');
    expect(desktops.spec.podSelector).toEqual({ matchLabels: { 'recc.io/cluster': 'c-abc123', 'recc.io/component': 'scheduler' } });
    expect(desktops.spec.ingress).toEqual([
      {
        from: [{ ipBlock: { cidr: '10.20.0.0/16' } }, { ipBlock: { cidr: '192.168.10.0/24' } }],
        ports: [
          { protocol: 'TCP', port: 8786 },
          { protocol: 'TCP', port: 8787 },
        ],
      },
    ]);
  });

  it('sizes the ResourceQuota to exactly the scheduler plus the desired workers, and the LimitRange to the pod sizes', () => {
    // Prepare: 4 workers × (1 vCPU, 1.5 GiB) + scheduler (1 vCPU, 2 GiB).
    const def = definition({ workerCpu: 1, workerMemoryGiB: 1.5, schedulerCpu: 1, schedulerMemoryGiB: 2 });

    // Act
    const objects = build(def);
    const quota = find(objects, 'ResourceQuota');
    const limits = find(objects, 'LimitRange');

    // Assess
    expect(quota.spec.hard).toEqual({
      pods: '5',
      'requests.cpu': '5000m',
      'limits.cpu': '5000m',
      'requests.memory': `${4 * 1536 + 2048}Mi`,
      'limits.memory': `${4 * 1536 + 2048}Mi`,
      'services.loadbalancers': '1',
      'services.nodeports': '0',
    });
    expect(limits.spec.limits[0]).toEqual({
      type: 'Container',
      default: { cpu: '1000m', memory: '1536Mi' },
      defaultRequest: { cpu: '1000m', memory: '1536Mi' },
      max: { cpu: '1000m', memory: '2048Mi' },
    });
  });

  it('puts the token, CA certificate and server key pair in the Secret, and never the CA private key', () => {
    // Prepare
    const def = definition();
    const secrets = testSecrets(def.clusterId);

    // Act
    const secret = find(build(def), 'Secret');

    // Assess
    const decoded = Object.fromEntries(Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    expect(decoded).toEqual({ token: secrets.token, 'ca.pem': secrets.caCertPem, 'tls.crt': secrets.serverCertPem, 'tls.key': secrets.serverKeyPem });
    expect(JSON.stringify(build(def))).not.toContain(Buffer.from(secrets.caKeyPem).toString('base64'));
    expect(JSON.stringify(build(def))).not.toContain('CAKEY');
  });

  it('shows only references in the Secret when rendering for display', () => {
    // Act
    const objects = buildClusterManifests(definition(), OPTIONS, { kind: 'references' });

    // Assess
    const secret = find(objects, 'Secret');
    expect(secret.data).toBeUndefined();
    expect(secret.stringData.token).toBe('<secret:recc-cluster-tls/token>');
    expect(JSON.stringify(objects)).not.toMatch(/BEGIN|s3cr3t/);
  });

  it('exposes the scheduler through an internal NLB restricted to desktop CIDRs and tagged for cost', () => {
    // Act
    const service = find(build(definition({}, { job: 'j1' })), 'Service');

    // Assess
    expect(service.spec.type).toBe('LoadBalancer');
    expect(service.spec.loadBalancerSourceRanges).toEqual(['10.20.0.0/16', '192.168.10.0/24']);
    // Pod-IP targets need no node ports; the quota allows none (issue 22 #1).
    expect(service.spec.allocateLoadBalancerNodePorts).toBe(false);
    expect(service.metadata.annotations).toMatchObject({
      'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internal',
      'service.beta.kubernetes.io/aws-load-balancer-type': 'external',
      'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type': 'ip',
    });
    const tags = service.metadata.annotations['service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags'].split(',');
    expect(tags.sort()).toEqual(['cluster=c-abc123', 'job=j1', 'namespace=recc-arathe-abc123', 'user=arathe']);
    expect(service.spec.ports.map((p: any) => [p.name, p.port])).toEqual([
      ['comm', 8786],
      ['dashboard', 8787],
    ]);
  });

  it('uses a ClusterIP service plus an Ingress for the dashboard in clusterip-ingress mode', () => {
    // Act
    const objects = build(definition(), { ...OPTIONS, serviceMode: 'clusterip-ingress', ingressDomain: 'recc.corp.example', ingressSourceCidrs: ['10.0.64.0/20'] });

    // Assess
    expect(find(objects, 'Service').spec.type).toBe('ClusterIP');
    const ingress = find(objects, 'Ingress');
    expect(ingress.spec.rules[0].host).toBe('c-abc123.recc.corp.example');
    expect(ingress.spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'recc-scheduler', port: { name: 'dashboard' } });
    expect(find(objects, 'ResourceQuota').spec.hard['services.loadbalancers']).toBe('0');
    const desktops = find(objects, 'NetworkPolicy', 'recc-allow-desktops-to-scheduler');
    expect(desktops.spec.ingress[1]).toEqual({ from: [{ ipBlock: { cidr: '10.0.64.0/20' } }], ports: [{ protocol: 'TCP', port: 8787 }] });
  });

  it('builds the worker Deployment with requests, limits, node group placement, image, EFS source and env', () => {
    // Prepare
    const def = definition({ workerCpu: 0.5, workerMemoryGiB: 1, image: 'registry.example.org/recc:2.1', sourceGitBranch: 'feature/fx-rates', env: { OMP_NUM_THREADS: '1' } });

    // Act
    const worker = find(build(def), 'Deployment', 'recc-worker');
    const pod = worker.spec.template.spec;
    const c = pod.containers[0];

    // Assess
    expect(worker.spec.replicas).toBe(4);
    expect(worker.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: '25%' } });
    expect(c.resources).toEqual({ requests: { cpu: '500m', memory: '1024Mi', 'ephemeral-storage': '1Gi' }, limits: { cpu: '500m', memory: '1024Mi', 'ephemeral-storage': '3Gi' } });
    expect(pod.nodeSelector).toEqual({ 'recc.io/nodegroup': 'arathe-c5-xlarge-nodegroup' });
    expect(pod.tolerations).toEqual([{ key: 'recc.io/nodegroup', operator: 'Equal', value: 'arathe-c5-xlarge-nodegroup', effect: 'NoSchedule' }]);
    expect(c.image).toBe('registry.example.org/recc:2.1');
    expect(c.command).toEqual(['recc']);
    expect(c.args.slice(0, 2)).toEqual(['worker', 'tls://recc-scheduler.recc-arathe-abc123.svc:8786']);
    expect(c.args.slice(-4)).toEqual(['--host', '0.0.0.0', '--contact-host', '$(POD_IP)']);
    // The source comes through the cluster's own claim on an EFS CSI volume (never an nfs volume, which PSA restricted refuses).
    expect(pod.volumes.find((v: any) => v.name === 'recc-source')).toEqual({ name: 'recc-source', persistentVolumeClaim: { claimName: 'recc-source', readOnly: true } });
    expect(c.volumeMounts).toContainEqual({ name: 'recc-source', mountPath: SOURCE_MOUNT_PATH, readOnly: true });
    expect(c.volumeMounts).toContainEqual({ name: 'recc-secrets', mountPath: def.secretMountPath, readOnly: true });
    expect(c.env).toContainEqual({ name: 'OMP_NUM_THREADS', value: '1' });
    expect(c.env).toContainEqual({ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    expect(c.env).toContainEqual({ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } });
    expect(c.env).toContainEqual({ name: 'RECC_SOURCE_DIR', value: SOURCE_MOUNT_PATH });
    expect(c.workingDir).toBe(SOURCE_MOUNT_PATH);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
  });

  it('asks for GPUs as an extended resource with requests equal to limits and a GPU quota', () => {
    // Prepare
    const def = definition({ instanceType: 'g4dn.xlarge', resources: { GPU: 1 }, workerCpu: 2, workerMemoryGiB: 8 }, { workers: 2 });

    // Act
    const objects = build(def);
    const c = find(objects, 'Deployment', 'recc-worker').spec.template.spec.containers[0];

    // Assess
    expect(c.resources.requests['nvidia.com/gpu']).toBe('1');
    expect(c.resources.limits['nvidia.com/gpu']).toBe('1');
    expect(find(objects, 'ResourceQuota').spec.hard['requests.nvidia.com/gpu']).toBe('2');
  });

  it('lists every configuration problem at once', () => {
    // Prepare: the spec schema already rejects such a branch; the builder checks again (defence in depth).
    const valid = definition({ sourceGitBranch: 'main' });
    const def = { ...valid, spec: { ...valid.spec, sourceGitBranch: 'a/../../etc' } };

    // Act
    let error: unknown;
    try {
      buildClusterManifests(def, { allowedCidrs: ['10.0.0.0/8', 'not-a-cidr'], serviceMode: 'clusterip-ingress' }, { kind: 'references' });
    } catch (err) {
      error = err;
    }

    // Assess
    expect(error).toBeInstanceOf(EksManifestError);
    expect((error as EksManifestError).statusCode).toBe(400);
    expect((error as EksManifestError).details.map((d) => d.path)).toEqual(['allowedCidrs[1]', 'ingressDomain', 'spec.sourceGitBranch', 'efsFileSystemId']);
  });

  it('refuses a floating image or the local placeholder before any pod spec is built, naming the field (issue 17 #8)', () => {
    // Prepare: the spec schema and RECC_EKS_IMAGE refuse these already; the builder is the last gate.
    const valid = definition();
    const floating = { ...valid, scheduler: { ...valid.scheduler, image: 'recc:latest' }, workers: { ...valid.workers, image: LOCAL_IMAGE } };

    // Act
    let error: unknown;
    try {
      buildClusterManifests(floating, { allowedCidrs: ['10.0.0.0/8'], serviceMode: 'nlb' }, { kind: 'references' });
    } catch (err) {
      error = err;
    }

    // Assess
    expect(error).toBeInstanceOf(EksManifestError);
    expect((error as EksManifestError).details).toEqual([
      { path: 'scheduler.image', message: expect.stringMatching(/must not use the "latest" tag.*\(got "recc:latest"\)$/) },
      { path: 'workers.image', message: expect.stringMatching(/local placeholder: configure RECC_EKS_IMAGE.*\(got "recc:local"\)$/) },
    ]);
    expect(valid.workers.image).toBe(TEST_EKS_IMAGE);
  });

  it('rejects CIDRs with an octet above 255 or a prefix above 32, which the shape alone would let through', () => {
    // Prepare
    const def = definition();

    // Act
    let error: unknown;
    try {
      buildClusterManifests(def, { allowedCidrs: ['300.1.1.1/24', '10.0.0.0/33', '203.0.113.0/24', '0.0.0.0/0'], serviceMode: 'nlb' }, { kind: 'references' });
    } catch (err) {
      error = err;
    }

    // Assess
    expect(error).toBeInstanceOf(EksManifestError);
    expect((error as EksManifestError).details).toEqual([
      { path: 'allowedCidrs[0]', message: '"300.1.1.1/24" is not an IPv4 CIDR such as 203.0.113.0/24' },
      { path: 'allowedCidrs[1]', message: '"10.0.0.0/33" is not an IPv4 CIDR such as 203.0.113.0/24' },
    ]);
  });

  it('is pure: the same input gives the same objects and the definition is not modified', () => {
    // Prepare
    const def = definition();
    const before = JSON.stringify(def);

    // Act
    const a = build(def);
    const b = build(def);

    // Assess
    expect(a).toEqual(b);
    expect(JSON.stringify(def)).toBe(before);
  });

  it('keeps the quota equal to the sum of every pod request for any worker count and size (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 8 }).map((n) => n / 4),
        fc.integer({ min: 1, max: 12 }).map((n) => n / 4),
        (workers, cpu, mem) => {
          const def = definition({ workerCpu: cpu, workerMemoryGiB: mem }, { workers });
          const objects = build(def);
          const hard = find(objects, 'ResourceQuota').spec.hard;
          let milli = 0;
          let bytes = 0;
          let pods = 0;
          for (const d of objects.filter((o) => o.kind === 'Deployment') as any[]) {
            const r = d.spec.template.spec.containers[0].resources.requests;
            milli += parseCpu(r.cpu) * 1000 * d.spec.replicas;
            bytes += parseMemory(r.memory) * d.spec.replicas;
            pods += d.spec.replicas;
          }
          expect(parseCpu(hard['requests.cpu']) * 1000).toBeCloseTo(milli, 6);
          expect(parseMemory(hard['requests.memory'])).toBe(bytes);
          expect(Number(hard.pods)).toBe(pods);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('Function: nodeGroupName', () => {
  it('names one group per user and instance type as in the reference design', () => {
    expect(nodeGroupName('arathe', 'c5.xlarge')).toBe('arathe-c5-xlarge-nodegroup');
    // An owner that is not a clean DNS fragment keeps a readable head plus a hash of its exact text (see naming.test.ts).
    expect(nodeGroupName('A.Rathe', 'g4dn.12xlarge', 'prod-')).toMatch(/^prod-a-rathe-[0-9a-f]{10}-g4dn-12xlarge-nodegroup$/);
    expect(userKubernetesGroup('A.Rathe')).toMatch(/^recc:user:a-rathe-[0-9a-f]{10}$/);
  });
});

describe('Function: parseCpu / parseMemory', () => {
  it('reads Kubernetes quantities', () => {
    expect(parseCpu('500m')).toBe(0.5);
    expect(parseCpu('2')).toBe(2);
    expect(parseMemory('1536Mi')).toBe(1536 * 2 ** 20);
    expect(parseMemory('2Gi')).toBe(2 * 2 ** 30);
    expect(parseMemory('1G')).toBe(1e9);
    expect(parseMemory('lots')).toBeNaN();
  });
});
