import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';

/**
 * `recc cluster kubeconfig CLUSTER`: write or merge a kubeconfig whose
 * context is the cluster's namespace on the platform's EKS cluster. No
 * static secret is written: kubectl runs an exec credential plugin, either
 * `aws eks get-token` (default) or `recc cluster token` (`--exec recc`),
 * which signs a 15-minute EKS token with the user's own AWS credentials.
 * What the user may do is what the platform granted their IAM principal at
 * create (an EKS access entry whose access policy is scoped to their
 * namespaces, plus the namespace's `recc-user` Role): read-only by default.
 * `--edit` first asks the API for edit (exec into and delete the cluster's
 * pods, nothing more); the stage's RECC_KUBECTL_EDIT decides (403
 * otherwise) and the provisioner grants it (adapters/eks/edit-access.ts).
 *
 * `recc cluster token --eks-cluster NAME [--region R]` prints the
 * ExecCredential (client.authentication.k8s.io/v1beta1, which kubectl 1.11+
 * understands).
 */
export interface EksConnectionInfo {
  clusterName: string;
  endpoint: string;
  region: string;
  /** Base64 PEM of the API server CA; required for https endpoints. */
  caData?: string;
}

export type ExecMode = 'aws' | 'recc';

export interface KubeconfigRequest {
  eks: EksConnectionInfo;
  clusterId: string;
  namespace: string;
  exec: ExecMode;
  /** For `exec: 'recc'`: how to start recc (absolute node and script paths). */
  reccCommand?: { command: string; args: string[] };
}

type Named<K extends string> = { name: string } & Record<K, Record<string, unknown>>;
interface KubeconfigDoc {
  apiVersion: string;
  kind: string;
  clusters: Array<Named<'cluster'>>;
  users: Array<Named<'user'>>;
  contexts: Array<Named<'context'>>;
  'current-context'?: string;
  preferences?: Record<string, unknown>;
  [k: string]: unknown;
}

export const EXEC_API_VERSION = 'client.authentication.k8s.io/v1beta1';

/** The three entries for one recc cluster: the EKS cluster, its exec user, and a context in the namespace. */
export function kubeconfigEntries(request: KubeconfigRequest): { cluster: Named<'cluster'>; user: Named<'user'>; context: Named<'context'> } {
  const { eks } = request;
  const clusterEntry = `recc-${eks.clusterName}`;
  const exec =
    request.exec === 'aws'
      ? { apiVersion: EXEC_API_VERSION, command: 'aws', args: ['eks', 'get-token', '--cluster-name', eks.clusterName, '--region', eks.region, '--output', 'json'] }
      : {
          apiVersion: EXEC_API_VERSION,
          command: request.reccCommand?.command ?? 'recc',
          args: [...(request.reccCommand?.args ?? []), 'cluster', 'token', '--eks-cluster', eks.clusterName, '--region', eks.region],
        };
  return {
    cluster: { name: clusterEntry, cluster: { server: eks.endpoint, ...(eks.caData ? { 'certificate-authority-data': eks.caData } : {}) } },
    user: { name: `${clusterEntry}-${request.exec}`, user: { exec } },
    context: { name: `recc-${request.clusterId}`, context: { cluster: clusterEntry, user: `${clusterEntry}-${request.exec}`, namespace: request.namespace } },
  };
}

/** Merge entries into a kubeconfig document (same names are replaced, others kept) and make the context current. */
export function mergeKubeconfig(existing: Partial<KubeconfigDoc> | undefined, entries: ReturnType<typeof kubeconfigEntries>, makeCurrent = true): KubeconfigDoc {
  const doc: KubeconfigDoc = {
    ...(existing ?? {}),
    apiVersion: existing?.apiVersion ?? 'v1',
    kind: existing?.kind ?? 'Config',
    clusters: [...(existing?.clusters ?? [])],
    users: [...(existing?.users ?? [])],
    contexts: [...(existing?.contexts ?? [])],
  };
  const upsert = <T extends { name: string }>(list: T[], item: T) => {
    const i = list.findIndex((x) => x?.name === item.name);
    if (i >= 0) list[i] = item;
    else list.push(item);
  };
  upsert(doc.clusters, entries.cluster);
  upsert(doc.users, entries.user);
  upsert(doc.contexts, entries.context);
  if (makeCurrent || !doc['current-context']) doc['current-context'] = entries.context.name;
  return doc;
}

/** Where kubectl reads its config: the first file of $KUBECONFIG, else ~/.kube/config. */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const first = (env.KUBECONFIG ?? '').split(delimiter).find((p) => p.trim() !== '');
  return first ? resolve(first) : join(homedir(), '.kube', 'config');
}

/** The platform's EKS cluster, from the environment or `~/.recc/config.json` (`{"eks": {…}}`). */
export function eksConnectionFromConfig(env: NodeJS.ProcessEnv, file: Record<string, unknown>): { info?: EksConnectionInfo; problems: Array<{ path: string; message: string }> } {
  const fromFile = (file.eks ?? {}) as Record<string, unknown>;
  const pick = (envKey: string, fileKey: string): string | undefined => {
    const v = env[envKey]?.trim() || (typeof fromFile[fileKey] === 'string' ? String(fromFile[fileKey]).trim() : '');
    return v || undefined;
  };
  const clusterName = pick('RECC_EKS_CLUSTER_NAME', 'clusterName');
  const endpoint = pick('RECC_EKS_ENDPOINT', 'endpoint');
  const region = pick('AWS_REGION', 'region') ?? 'us-east-1';
  const caData = pick('RECC_EKS_CA_DATA', 'caData');
  const problems: Array<{ path: string; message: string }> = [];
  if (!clusterName) problems.push({ path: 'RECC_EKS_CLUSTER_NAME', message: 'is required: the EKS cluster recc runs clusters on (or "eks.clusterName" in ~/.recc/config.json)' });
  if (!endpoint) problems.push({ path: 'RECC_EKS_ENDPOINT', message: 'is required: its API endpoint, from `aws eks describe-cluster` (or "eks.endpoint" in ~/.recc/config.json)' });
  else if (!/^https?:\/\//.test(endpoint)) problems.push({ path: 'RECC_EKS_ENDPOINT', message: `must be an http(s) URL (got ${JSON.stringify(endpoint)})` });
  else if (endpoint.startsWith('https://') && !caData) problems.push({ path: 'RECC_EKS_CA_DATA', message: 'is required for an https endpoint: the base64 CA from `aws eks describe-cluster` (or "eks.caData")' });
  if (problems.length || !clusterName || !endpoint) return { problems };
  return { info: { clusterName, endpoint, region, ...(caData ? { caData } : {}) }, problems };
}

/** Write atomically, readable by the owner only (a kubeconfig names the user's endpoints and identities). */
function writePrivate(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.recc-${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

interface KubeconfigFlags {
  kubeconfig?: string;
  exec?: string;
  print?: boolean;
  switch?: boolean;
  json?: boolean;
  api?: string;
  token?: string;
  edit?: boolean;
}

export function registerClusterKubeconfig(group: Command): void {
  group
    .command('kubeconfig <cluster>')
    .description("write or merge a kubeconfig for the cluster's namespace (kubectl authenticates with your own AWS identity; read-only unless --edit)")
    .option('--kubeconfig <path>', 'file to write or merge (default: first of $KUBECONFIG, else ~/.kube/config)')
    .option('--exec <plugin>', 'credential plugin: aws (aws eks get-token) or recc (recc cluster token)', 'aws')
    .option('--edit', 'also ask for edit: exec into and delete the pods of this cluster (when the stage allows you)')
    .option('--print', 'print the kubeconfig instead of writing it')
    .option('--no-switch', 'do not make the new context current')
    .option('--api <url>', 'API URL (default: $RECC_API_URL, ~/.recc/config.json, or http://127.0.0.1:4600)')
    .option('--token <token>', 'bearer token of a local stack started with --token (default: $RECC_API_TOKEN)')
    .option('--json', 'print what was written as JSON')
    .action(async (ref: string, flags: KubeconfigFlags) => {
      const { ValidationError, ReccError } = await import('../../shared/core/errors.ts');
      const { clientOptions, resolveCluster, configPath } = await import('./cluster-actions.ts');
      const { ApiClient } = await import('../../client/api-client.ts');
      const { printJson } = await import('../output.ts');
      const YAML = await import('yaml');
      const problems: Array<{ path: string; message: string }> = [];
      if (flags.exec !== 'aws' && flags.exec !== 'recc') problems.push({ path: 'exec', message: `must be aws or recc (got ${JSON.stringify(flags.exec)})` });
      let file: Record<string, unknown> = {};
      if (existsSync(configPath())) {
        try {
          file = JSON.parse(readFileSync(configPath(), 'utf8')) as Record<string, unknown>;
        } catch {
          problems.push({ path: 'config', message: `${configPath()} is not valid JSON` });
        }
      }
      const eks = eksConnectionFromConfig(process.env, file);
      problems.push(...eks.problems);
      if (problems.length || !eks.info) throw new ValidationError('cannot write a kubeconfig', problems);
      // The API answers 404 for another user's cluster: ownership is checked before anything is revealed.
      const api = new ApiClient(clientOptions(flags));
      const cluster = await resolveCluster(api, ref);
      if (cluster.status === 'DELETED' || cluster.status === 'FAILED') {
        throw new ReccError(`cluster ${cluster.id} is ${cluster.status}: its namespace ${cluster.namespace} is gone; read its logs with: recc cluster logs ${cluster.id}`, { statusCode: 409 });
      }
      // Asked before anything is written: a refusal (403, with what to do) leaves the kubeconfig as it was.
      if (flags.edit) await api.grantKubectlEdit(cluster.id);
      const entries = kubeconfigEntries({
        eks: eks.info,
        clusterId: cluster.id,
        namespace: cluster.namespace,
        exec: flags.exec as ExecMode,
        reccCommand: { command: process.execPath, args: [resolve(process.argv[1] ?? 'recc')] },
      });
      const path = resolve(flags.kubeconfig ?? defaultKubeconfigPath());
      const existing = existsSync(path) ? (YAML.parse(readFileSync(path, 'utf8')) as Partial<KubeconfigDoc> | null) : undefined;
      if (existing !== undefined && existing !== null && (typeof existing !== 'object' || Array.isArray(existing))) {
        throw new ValidationError(`cannot merge into ${path}`, [{ path: 'kubeconfig', message: `${path} is not a kubeconfig (YAML mapping)` }]);
      }
      const merged = mergeKubeconfig(existing ?? undefined, entries, flags.switch !== false);
      const text = YAML.stringify(merged);
      if (flags.print) {
        process.stdout.write(text);
        return;
      }
      writePrivate(path, text);
      const access = flags.edit ? 'edit' : 'read-only';
      if (flags.json) {
        printJson({ path, context: entries.context.name, namespace: cluster.namespace, exec: flags.exec, access });
        return;
      }
      process.stdout.write(`wrote context ${entries.context.name} (namespace ${cluster.namespace}, ${access}) to ${path}\ntry: kubectl --context ${entries.context.name} get pods\n`);
      if (flags.edit) {
        process.stdout.write(
          `edit access (exec into and delete this cluster's pods) is being granted; it applies within a minute: kubectl --context ${entries.context.name} auth can-i create pods --subresource=exec\n`,
        );
      }
    });

  group
    .command('token')
    .description('print an EKS token as a kubectl ExecCredential (used by kubeconfigs written with --exec recc)')
    .requiredOption('--eks-cluster <name>', 'EKS cluster name')
    .option('--region <region>', 'AWS region (default: $AWS_REGION or us-east-1)')
    .action(async (flags: { eksCluster: string; region?: string }) => {
      const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
      const { eksToken } = await import('../../adapters/eks/token.ts');
      const region = flags.region ?? process.env.AWS_REGION ?? 'us-east-1';
      const signedAt = Date.now();
      const token = await eksToken({ clusterName: flags.eksCluster, region, credentials: fromNodeProviderChain() });
      // aws eks get-token reports 14 minutes, one under the server's 15, so kubectl asks again in time.
      const expirationTimestamp = new Date(signedAt + 14 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      process.stdout.write(`${JSON.stringify({ kind: 'ExecCredential', apiVersion: EXEC_API_VERSION, spec: {}, status: { expirationTimestamp, token } })}\n`);
    });
}
