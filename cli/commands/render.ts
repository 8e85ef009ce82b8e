import { Option, type Command } from 'commander';
import { addSpecFlags, specOverridesOrThrow, type SpecFlagValues } from '../spec-flags.ts';

interface RenderFlags extends SpecFlagValues {
  template?: string;
  backend: string;
  owner?: string;
  clusterId: string;
  namespace?: string;
  serviceMode?: string;
  allowedCidr?: string[];
  json?: boolean;
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
    .option('--json', 'print JSON instead of YAML')
    .action(async (flags: RenderFlags) => {
      const [{ previewManifests, previewDefinition }, { stringify }, { userInfo }] = await Promise.all([
        import('../../adapters/eks/preview.ts'),
        import('yaml'),
        import('node:os'),
      ]);
      const request = {
        ...(flags.template !== undefined ? { template: flags.template } : {}),
        overrides: await specOverridesOrThrow(flags),
        owner: flags.owner ?? userInfo().username,
        clusterId: flags.clusterId,
        ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
        ...(flags.serviceMode !== undefined ? { serviceMode: flags.serviceMode } : {}),
        ...(flags.allowedCidr !== undefined ? { allowedCidrs: flags.allowedCidr } : {}),
      };
      if (flags.backend === 'local') {
        const definition = previewDefinition(request);
        process.stdout.write(flags.json ? `${JSON.stringify(definition, null, 2)}\n` : stringify(definition, { lineWidth: 0 }));
        return;
      }
      const { objects } = previewManifests(request, process.env);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(objects, null, 2)}\n`);
        return;
      }
      process.stdout.write(objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
    });
}
