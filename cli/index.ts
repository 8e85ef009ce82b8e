import { Command, CommanderError } from 'commander';
import { ValidationError } from '../shared/core/errors.ts';
import { EXIT, commandPath, reportFailure, setCurrentCommand, wantsJson } from './output.ts';
import { registerEstimate } from './commands/estimate.ts';
import { registerTemplates } from './commands/templates.ts';
import { registerScheduler } from './commands/scheduler.ts';
import { registerWorker } from './commands/worker.ts';
import { registerCluster } from './commands/cluster.ts';
import { registerUp } from './commands/up.ts';
import { registerRender } from './commands/render.ts';
import { registerCost } from './commands/cost.ts';
import { registerJob } from './commands/job.ts';
import { registerData } from './commands/data.ts';
import { registerQuota } from './commands/quota.ts';
import { registerSource } from './commands/source.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerConsole } from './commands/console.ts';

/**
 * The `recc` command. Each command lives in `cli/commands/<name>.ts` and
 * exports `register<Name>(program)`. Command modules import heavy code
 * (AWS SDK, the compute engine) lazily inside their action, so `recc worker`
 * starts fast and `recc --help` stays instant.
 */
export function buildProgram(options: { json?: boolean } = {}): Command {
  const program = new Command('recc')
    .description('Research Elastic Compute Clusters: dedicated compute clusters, on EKS or on this machine')
    .version('0.1.0')
    .exitOverride();
  // Under --json a usage error is reported once, in the JSON envelope, not as commander's text.
  // Set before the commands are added: subcommands copy these settings when created.
  if (options.json) program.configureOutput({ writeErr: () => undefined, outputError: () => undefined });
  else program.showHelpAfterError();
  registerEstimate(program);
  registerTemplates(program);
  registerScheduler(program, () => import('../scheduler/main.ts'));
  registerWorker(program, () => import('../worker/main.ts'));
  registerCluster(program);
  registerUp(program);
  registerRender(program);
  registerCost(program);
  registerJob(program);
  registerData(program);
  registerQuota(program);
  registerSource(program);
  registerDoctor(program);
  registerConsole(program);
  return program;
}

export { EXIT } from './output.ts';

export async function main(argv: string[]): Promise<void> {
  const json = wantsJson(argv);
  const program = buildProgram({ json });
  setCurrentCommand(commandPath(program, argv));
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err, json);
  }
}

/** Report an error (text on stderr, or the JSON envelope under --json), never with a stack trace; returns the exit code. */
export function reportError(err: unknown, json = false): number {
  if (err instanceof CommanderError) {
    if (err.exitCode === 0) return EXIT.ok; // --help, --version
    // Commander printed its message already, unless under --json (silenced above).
    if (!json) return EXIT.usage;
    const message = err.message.replace(/^error: /, '');
    return reportFailure(new ValidationError(message, [{ path: err.code.replace(/^commander\./, ''), message }]), true);
  }
  return reportFailure(err, json);
}
