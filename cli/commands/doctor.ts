import type { Command } from 'commander';

interface DoctorFlags {
  stage?: string;
  region?: string;
  stackName?: string;
  json?: boolean;
}

/**
 * `recc doctor --stage NAME`: read-only checks of a deployed stage with your
 * AWS credentials (adapters/doctor/checks.ts): a PASS/FAIL table with the fix
 * for each failure, or the report as JSON. Exit 0 when nothing failed, 1 when
 * a check failed, 2 on invalid options.
 */
export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check a deployed stage read-only (stack, EKS endpoint and CA, access entries, node role, launch template IMDS, EFS, Budgets)')
    .option('--stage <name>', 'the serverless stage to check (required)')
    .option('--region <region>', 'AWS region of the stage (default: $AWS_REGION, else us-east-1)')
    .option('--stack-name <name>', 'CloudFormation stack (default: recc-<stage>)')
    .option('--json', 'print the report as JSON')
    .action(async (flags: DoctorFlags) => {
      const { ValidationError } = await import('../../shared/core/errors.ts');
      const region = flags.region ?? process.env.AWS_REGION ?? 'us-east-1';
      const problems: Array<{ path: string; message: string }> = [];
      if (flags.stage === undefined) problems.push({ path: 'stage', message: 'is required: recc doctor --stage NAME (e.g. prod)' });
      else if (!/^[A-Za-z][A-Za-z0-9-]{0,63}$/.test(flags.stage)) problems.push({ path: 'stage', message: `must be a serverless stage name (letters, digits, -), got ${JSON.stringify(flags.stage)}` });
      if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) problems.push({ path: 'region', message: `must be an AWS region such as eu-west-1, got ${JSON.stringify(region)}` });
      if (flags.stackName !== undefined && !/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(flags.stackName)) problems.push({ path: 'stackName', message: 'must be a CloudFormation stack name' });
      if (problems.length) throw new ValidationError('invalid options for recc doctor', problems);
      const { runDoctor, defaultDoctorClients, formatDoctorReport } = await import('../../adapters/doctor/checks.ts');
      const report = await runDoctor({ stage: flags.stage as string, region, ...(flags.stackName ? { stackName: flags.stackName } : {}), clients: defaultDoctorClients(region) });
      if (flags.json) {
        const { printJson } = await import('../output.ts');
        printJson(report);
      } else process.stdout.write(`${formatDoctorReport(report)}\n`);
      if (!report.ok) process.exitCode = 1;
    });
}
