import { Command, CommanderError } from 'commander';
import { ReccError, ValidationError, formatErrorForHumans } from '../shared/core/errors.ts';
import { registerEstimate } from './commands/estimate.ts';
import { registerTemplates } from './commands/templates.ts';
import { registerScheduler } from './commands/scheduler.ts';
import { registerWorker } from './commands/worker.ts';
import { registerCluster } from './commands/cluster.ts';
import { registerUp } from './commands/up.ts';
import { registerRender } from './commands/render.ts';
import { registerCost } from './commands/cost.ts';

/**
 * The `recc` command. Each command lives in `cli/commands/<name>.ts` and
 * exports `register<Name>(program)`. Command modules import heavy code
 * (AWS SDK, the compute engine) lazily inside their action, so `recc worker`
 * starts fast and `recc --help` stays instant.
 */
export function buildProgram(): Command {
  const program = new Command('recc')
    .description('Research Elastic Compute Clusters: dedicated compute clusters, on EKS or on this machine')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerEstimate(program);
  registerTemplates(program);
  registerScheduler(program);
  registerWorker(program);
  registerCluster(program);
  registerUp(program);
  registerRender(program);
  registerCost(program);
  return program;
}

/** Exit codes: 0 ok, 1 operation failed, 2 invalid input. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

/** Print an error for a human (no stack trace) and return the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander already printed its message (help, version or a usage error).
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof ValidationError) {
    process.stderr.write(`error: ${formatErrorForHumans(err)}\n`);
    return EXIT.usage;
  }
  if (err instanceof ReccError && err.exposable) {
    process.stderr.write(`error: ${formatErrorForHumans(err)}\n`);
    return EXIT.failed;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`error: ${message}\n`);
  if (process.env.RECC_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return EXIT.failed;
}
