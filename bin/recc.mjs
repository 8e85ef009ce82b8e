#!/usr/bin/env node
// Entry point for the `recc` command. It registers tsx so the TypeScript
// sources run directly after `npm ci`, with no separate build step.
import { register } from 'tsx/esm/api';

// The SDK pins are deliberate (Node 20 support ends in 2027); keep the CLI output clean.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../cli/index.ts');
await main(process.argv);
