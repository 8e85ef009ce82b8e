/**
 * Direct process entry (`node --import tsx/esm worker/entry.ts …` or its
 * bundle): the same options as `recc worker`, without loading the whole CLI.
 */
import { Command, CommanderError } from 'commander';
import { registerWorker } from '../cli/commands/worker.ts';
import { ValidationError, formatErrorForHumans } from '../shared/core/errors.ts';

// Start loading the worker itself now, while commander parses the arguments: the command's action
// imports it lazily (the full CLI must not load it), and in the chunked bundle that import is a
// chain of file reads that would otherwise only begin after parsing. Errors surface at that import.
import('./main.ts').catch(() => {});

const program = new Command('recc').exitOverride();
registerWorker(program);
try {
  await program.parseAsync(['node', 'recc', 'worker', ...process.argv.slice(2)]);
} catch (err) {
  // Commander already printed help/usage; its exit code 0 means --help.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  if (err instanceof ValidationError) process.stderr.write(`error: ${formatErrorForHumans(err)}\n`);
  else process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exit(err instanceof ValidationError ? 2 : 1);
}
