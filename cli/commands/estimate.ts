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
    .option('--json', 'print {"spec", "plan"} as JSON')
    .action(async (flags: EstimateFlags) => {
      const { estimate } = await import('../../shared/plan/planner.ts');
      const { ValidationError } = await import('../../shared/core/errors.ts');
      let controlPlaneShare: number | undefined;
      if (flags.controlPlaneShare !== undefined) {
        controlPlaneShare = Number(flags.controlPlaneShare);
        if (flags.controlPlaneShare.trim() === '' || !Number.isFinite(controlPlaneShare) || controlPlaneShare < 0 || controlPlaneShare > 1) {
          throw new ValidationError('invalid option', [
            { path: 'controlPlaneShare', message: `must be a number from 0 to 1 (got ${JSON.stringify(flags.controlPlaneShare)})` },
          ]);
        }
      }
      const result = estimate({
        ...(flags.template === undefined ? {} : { template: flags.template }),
        overrides: specOverridesFromFlags(flags),
        ...(flags.region === undefined ? {} : { region: flags.region }),
        ...(controlPlaneShare === undefined ? {} : { controlPlaneShare }),
      });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      const { formatEstimate } = await import('../../shared/plan/format.ts');
      process.stdout.write(`${formatEstimate(result.spec, result.plan)}\n`);
    });
}
