import type { Command } from 'commander';

// Placeholder until the owning issue lands: the command is listed but says so.
export function registerCluster(program: Command): void {
  program
    .command('cluster')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('recc cluster is not available yet\n');
      process.exitCode = 1;
    });
}
