import type { Command } from 'commander';

// Placeholder until the local stack lands: `recc cluster logs` is listed but says so.
export function registerClusterLogs(group: Command): void {
  group
    .command('logs <id>')
    .description('(not yet available)')
    .action(() => {
      process.stderr.write('recc cluster logs is not available yet\n');
      process.exitCode = 1;
    });
}
