import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import { LocalStackStartError } from './errors.ts';

/**
 * dynalite 4.0.0 in this process on 127.0.0.1, persisting to a LevelDB
 * directory (`<stateDir>/dynamodb`) so cluster records survive a restart of
 * `recc up`. dynalite has no transactions: the store runs with
 * `transactions: false` (ordered conditional writes).
 */
export interface EmbeddedDynalite {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

type DynaliteFactory = (options: Record<string, unknown>) => Server;

export async function startEmbeddedDynalite(options: { path?: string; port?: number } = {}): Promise<EmbeddedDynalite> {
  const require = createRequire(import.meta.url);
  const dynalite = require('dynalite') as DynaliteFactory;
  const server = dynalite({
    ...(options.path ? { path: options.path } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    throw new LocalStackStartError(`dynalite could not start${options.path ? ` on ${options.path}` : ''}`, { cause: err });
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stop: () => {
      stopping ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return stopping;
    },
  };
}
