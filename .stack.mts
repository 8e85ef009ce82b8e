import { startLocalStack } from './local/stack.ts';
import { createLogger } from './shared/core/logger.ts';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const t0 = Date.now();
const stack = await startLocalStack({ port: 0, stateDir: '/tmp/h6/st1', processEnv: process.env, logger: createLogger({ level: 'info', write: (l) => console.log(l.slice(0, 300)) }) });
console.log('up in', Date.now() - t0, stack.url);
const res = await fetch(`${stack.url}/clusters`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nWorkers: 1 }) });
const body: any = await res.json();
console.log(res.status, JSON.stringify(body).slice(0, 300));
const id = body.cluster?.id;
for (let i = 0; i < 30; i++) {
  await new Promise((r) => setTimeout(r, 500));
  const g: any = await (await fetch(`${stack.url}/clusters/${id}`)).json();
  console.log(g.cluster?.status, (g.cluster?.statusReason ?? '').slice(0, 400));
  if (['FAILED', 'RUNNING', 'DELETED'].includes(g.cluster?.status)) break;
}
const logs: any = await (await fetch(`${stack.url}/clusters/${id}/logs`)).json();
console.log(JSON.stringify(logs).slice(0, 500));
await stack.close({ teardownClusters: true });
