import { expandArg, schedulerServiceHost } from '../../shared/definition/render.ts';
import type { ClusterDefinition, EnvVar, PodTemplate } from '../../shared/definition/types.ts';

/**
 * How the local backend turns a rendered pod into a local process (pure).
 *
 * The rendered definition is the one EKS runs; locally these values change:
 * - `--host 0.0.0.0` → `127.0.0.1`: nothing listens beyond loopback;
 * - `--port 8786` / `--dashboard-port 8787` → free local ports chosen at apply;
 * - `tls://recc-scheduler.<ns>.svc:8786` (the worker's scheduler address) →
 *   `tls://127.0.0.1:<local port>` (the certificate also covers 127.0.0.1);
 * - paths under the secret mount path (`/etc/recc/secrets/…`), in args and
 *   env values → `<stateDir>/clusters/<id>/secrets/…` (0600 files);
 * - env `fieldRef`s: metadata.name → the local pod name
 *   (`<cluster>-scheduler`, `<cluster>-worker-<n>`), metadata.namespace → the
 *   namespace, status.podIP → 127.0.0.1; then `$(VAR)` in args is expanded
 *   from the env, as the kubelet does;
 * - the `recc` entrypoint → this repository's CLI (`node bin/recc.mjs`), or
 *   for `recc scheduler`/`recc worker` the engine's direct entry (bundled
 *   once by `comm/launch.ts`, same options, starts several times faster).
 * Everything else (flags, threads, memory limit, resources, env) is unchanged.
 */
export interface LocalPodContext {
  podName: string;
  namespace: string;
  schedulerPort: number;
  dashboardPort: number;
  secretsDir: string;
  /** argv that replaces the `recc` entrypoint (the CLI). */
  reccCommand: string[];
  /**
   * A faster direct entry for a subcommand (`scheduler`, `worker`): argv that
   * takes the arguments after the subcommand. Same options, no full CLI load.
   */
  directEntry?: (subcommand: string) => string[] | undefined;
}

export interface LocalProcessSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
}

export function podEnv(env: EnvVar[], ctx: { podName: string; namespace: string }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    if (e.fieldRef === 'metadata.name') out[e.name] = ctx.podName;
    else if (e.fieldRef === 'metadata.namespace') out[e.name] = ctx.namespace;
    else if (e.fieldRef === 'status.podIP') out[e.name] = '127.0.0.1';
    else out[e.name] = expandArg(e.value ?? '', out);
  }
  return out;
}

export function localProcessFor(definition: ClusterDefinition, pod: PodTemplate, ctx: LocalPodContext): LocalProcessSpec {
  const mount = definition.secretMountPath;
  const env = podEnv(pod.env, ctx);
  // Env values that name a secret file (RECC_API_CLUSTER_TOKEN_FILE) move with the mount, as args do.
  for (const [name, value] of Object.entries(env)) env[name] = rewritePath(value, mount, ctx.secretsDir);
  const port = definition.schedulerService.ports.find((p) => p.name === 'comm')?.port;
  const inCluster = new Set(
    [schedulerServiceHost(definition.namespace, definition.schedulerService.name), definition.schedulerService.name].flatMap((h) => [
      `tls://${h}:${port}`,
      `tcp://${h}:${port}`,
    ]),
  );
  const args: string[] = [];
  const src = pod.args;
  for (let i = 0; i < src.length; i += 1) {
    const arg = src[i] as string;
    const flag = arg;
    if (flag === '--host' && i + 1 < src.length) {
      args.push(flag, '127.0.0.1');
      i += 1;
    } else if (flag === '--port' && i + 1 < src.length && pod.component === 'scheduler') {
      args.push(flag, String(ctx.schedulerPort));
      i += 1;
    } else if (flag === '--dashboard-port' && i + 1 < src.length) {
      args.push(flag, String(ctx.dashboardPort));
      i += 1;
    } else if (inCluster.has(arg)) {
      args.push(`${arg.slice(0, 3)}://127.0.0.1:${ctx.schedulerPort}`);
    } else {
      args.push(rewritePath(expandArg(arg, env), mount, ctx.secretsDir));
    }
  }
  const [entry, ...rest] = pod.command;
  let commandArgv = [...pod.command];
  let finalArgs = args;
  if (entry === 'recc') {
    const direct = rest.length === 0 ? ctx.directEntry?.(args[0] ?? '') : undefined;
    if (direct) {
      commandArgv = direct;
      finalArgs = args.slice(1);
    } else {
      commandArgv = [...ctx.reccCommand, ...rest];
    }
  }
  const [command, ...prefix] = commandArgv;
  return { command: command ?? 'recc', args: [...prefix, ...finalArgs], env };
}

function rewritePath(arg: string, mount: string, dir: string): string {
  if (arg === mount) return dir;
  if (arg.startsWith(`${mount}/`)) return `${dir}/${arg.slice(mount.length + 1)}`;
  return arg;
}
