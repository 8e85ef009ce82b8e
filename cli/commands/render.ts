import { Option, type Command } from 'commander';
import { addSpecFlags, specOverridesFromFlags, type SpecFlagValues } from '../spec-flags.ts';

interface RenderFlags extends SpecFlagValues {
  template?: string;
  backend: string;
  owner?: string;
  clusterId: string;
  namespace?: string;
  serviceMode?: string;
  allowedCidr?: string[];
  json?: boolean;
  controlPlaneRbac?: boolean;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * `recc render`: print what a cluster would be made of, creating nothing.
 * `--backend eks` (default) prints the Kubernetes objects as YAML documents;
 * `--backend local` prints the rendered definition the local backend runs.
 * Secret values are never printed (nor generated): the token and keys appear
 * as references such as `<secret:recc-cluster-tls/token>`.
 */
export function registerRender(program: Command): void {
  const command = program
    .command('render')
    .description('print the Kubernetes manifests (or local process definition) of a cluster, without secrets; creates nothing')
    .option('--template <name|path>', 'template name (see `recc templates`) or path to a YAML spec file');
  addSpecFlags(command)
    .addOption(new Option('--backend <backend>', 'eks: Kubernetes manifests; local: the local process definition').choices(['eks', 'local']).default('eks'))
    .option('--owner <user>', 'owner of the cluster (default: the OS user)')
    .option('--cluster-id <id>', 'cluster id to render with', 'c-preview')
    .option('--namespace <name>', 'namespace (default: derived from owner and id, as the API does)')
    .addOption(new Option('--service-mode <mode>', 'scheduler exposure (default: RECC_EKS_SERVICE_MODE or nlb)').choices(['nlb', 'clusterip-ingress']))
    .addOption(new Option('--allowed-cidr <cidr>', 'desktop CIDR allowed to reach the scheduler (repeatable; default: RECC_EKS_ALLOWED_CIDRS)').argParser(collect))
    .option('--json', 'print JSON (in the envelope, see README) instead of YAML')
    .option('--control-plane-rbac', "print instead the ClusterRole of recc's own roles (group recc:control-plane), applied once per EKS cluster")
    .action(async (flags: RenderFlags) => {
      if (flags.controlPlaneRbac) {
        const [{ controlPlaneRbacObjects }, { stringify: toYaml }] = await Promise.all([import('../../adapters/eks/manifests/control-plane-rbac.ts'), import('yaml')]);
        const objects = controlPlaneRbacObjects();
        process.stdout.write(flags.json ? `${JSON.stringify({ ok: true, command: 'render', data: objects }, null, 2)}\n` : objects.map((o) => toYaml(o, { lineWidth: 0 })).join('---\n'));
        return;
      }
      const [{ previewManifests, previewDefinition }, { stringify }, { userInfo }, { isIpv4Cidr }, { ValidationError }] = await Promise.all([
        import('../../adapters/eks/preview.ts'),
        import('yaml'),
        import('node:os'),
        import('../../adapters/eks/manifests/build.ts'),
        import('../../shared/core/errors.ts'),
      ]);
      // Problems the later stages would only reach once the spec is valid, so every problem is named at once.
      const problems: Array<{ path: string; message: string }> = [];
      const overrides = specOverridesFromFlags(flags, process.argv, problems);
      if (flags.backend === 'eks') {
        for (const [i, cidr] of (flags.allowedCidr ?? []).entries()) {
          if (!isIpv4Cidr(cidr)) problems.push({ path: `allowedCidrs[${i}]`, message: `"${cidr}" is not an IPv4 CIDR such as 203.0.113.0/24` });
        }
      }
      const request = {
        ...(flags.template !== undefined ? { template: flags.template } : {}),
        overrides,
        owner: flags.owner ?? userInfo().username,
        clusterId: flags.clusterId,
        ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
        ...(flags.serviceMode !== undefined ? { serviceMode: flags.serviceMode } : {}),
        ...(flags.allowedCidr !== undefined ? { allowedCidrs: flags.allowedCidr } : {}),
      };
      const envelope = (data: unknown): string => `${JSON.stringify({ ok: true, command: 'render', data }, null, 2)}\n`;
      const output = (): string => {
        if (flags.backend === 'local') {
          const definition = previewDefinition(request);
          return flags.json ? envelope(definition) : stringify(definition, { lineWidth: 0 });
        }
        const { objects } = previewManifests(request, process.env);
        return flags.json ? envelope(objects) : objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
      };
      let text: string;
      try {
        text = output();
      } catch (err) {
        if (problems.length === 0 || !(err instanceof ValidationError)) throw err;
        const seen = new Set(err.details.map((d) => `${d.path}\u0000${d.message}`));
        const all = [...err.details, ...problems.filter((p) => !seen.has(`${p.path}\u0000${p.message}`))];
        throw new ValidationError(`cannot render the cluster: ${all.length} problem${all.length === 1 ? '' : 's'}`, all);
      }
      if (problems.length > 0) throw new ValidationError(`cannot render the cluster: ${problems.length} problem${problems.length === 1 ? '' : 's'}`, problems);
      process.stdout.write(text);
    });
}
