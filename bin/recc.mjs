#!/usr/bin/env node
// Entry point for the `recc` command. It registers tsx so the TypeScript
// sources run directly after `npm ci`, with no separate build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/index.ts');
await main(process.argv);
