import { Option, type Command } from 'commander';
import { addSpecFlags, specOverridesFromFlags, type SpecFlagValues } from '../spec-flags.ts';

interface EstimateFlags extends SpecFlagValues {
  template?: string;
  region?: string;
  controlPlaneShare?: string;
  json?: boolean;
}

/** `recc estimate`: resolve a spec (defaults → template → flags), plan it and print nodes and $/hour. */
export function registerEstimate(program: Command): void {
  const command = program
    .command('estimate')
    .description('how many EC2 instances a cluster takes and what it costs per hour (creates nothing)')
    .option('--template <name|path>', 'template name (see `recc templates`) or path to a YAML spec file');
  addSpecFlags(command)
    .option('--region <region>', 'AWS region for prices', 'us-east-1')
    .addOption(new Option('--control-plane-share <fraction>', 'share of the EKS control plane fee charged to this cluster (0..1)'))
    .option('--json', 'print {"spec", "plan"} in the JSON envelope (see README)')
    .action(async (flags: EstimateFlags) => {
      const { estimate } = await import('../../shared/plan/planner.ts');
      const { ValidationError } = await import('../../shared/core/errors.ts');
      const { knownRegions } = await import('../../shared/catalog/instances.ts');
      // Every problem at once: the options here, the flags' pairs and the spec.
      const problems: Array<{ path: string; message: string }> = [];
      let controlPlaneShare: number | undefined;
      if (flags.controlPlaneShare !== undefined) {
        controlPlaneShare = Number(flags.controlPlaneShare);
        if (flags.controlPlaneShare.trim() === '' || !Number.isFinite(controlPlaneShare) || controlPlaneShare < 0 || controlPlaneShare > 1) {
          problems.push({ path: 'controlPlaneShare', message: `must be a number from 0 to 1 (got ${JSON.stringify(flags.controlPlaneShare)})` });
        }
      }
      if (flags.region !== undefined && !knownRegions().includes(flags.region)) {
        problems.push({ path: 'region', message: `no prices recorded for region ${JSON.stringify(flags.region)}; known regions: ${knownRegions().join(', ')}` });
      }
      const overrides = specOverridesFromFlags(flags, process.argv, problems);
      let result: ReturnType<typeof estimate>;
      try {
        result = estimate({
          ...(flags.template === undefined ? {} : { template: flags.template }),
          overrides,
          ...(flags.region === undefined || problems.length > 0 ? {} : { region: flags.region }),
          ...(controlPlaneShare === undefined || problems.length > 0 ? {} : { controlPlaneShare }),
        });
      } catch (err) {
        if (problems.length > 0 && err instanceof ValidationError) throw new ValidationError('invalid options', [...err.details, ...problems]);
        throw err;
      }
      if (problems.length > 0) throw new ValidationError('invalid options', problems);
      if (flags.json) {
        const [{ printJson }, { estimateRouteCost }] = await Promise.all([import('../output.ts'), import('../../shared/cost/requests.ts')]);
        // The SQS route's request cost is billed per use, beside the plan's hourly cost.
        printJson({ ...result, sqsRoute: estimateRouteCost() });
        return;
      }
      const { formatEstimate } = await import('../../shared/plan/format.ts');
      process.stdout.write(`${formatEstimate(result.spec, result.plan)}\n`);
    });
}
