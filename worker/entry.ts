/**
 * Direct process entry (`node --import tsx/esm worker/entry.ts …` or its
 * bundle): the same options as `recc worker`, without loading the whole CLI.
 */
import { Command } from 'commander';
import { registerWorker } from '../cli/commands/worker.ts';
import { ValidationError, formatErrorForHumans } from '../shared/core/errors.ts';

const program = new Command('recc').exitOverride();
registerWorker(program);
try {
  await program.parseAsync(['node', 'recc', 'worker', ...process.argv.slice(2)]);
} catch (err) {
  if (err instanceof ValidationError) process.stderr.write(`error: ${formatErrorForHumans(err)}\n`);
  else if (!(err instanceof Error && 'exitCode' in err)) process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exit(2);
}
