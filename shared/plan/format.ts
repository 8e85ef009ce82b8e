import type { ClusterSpec, Plan, TemplateInfo } from '../spec/types.ts';
import { getInstanceType } from '../catalog/instances.ts';
import { formatColumns, formatKeyValues } from '../core/text.ts';
import { estimateRouteCost } from '../cost/requests.ts';

/** Human-readable renderings of plans for the CLI (pure string building). */

/** Dollars with at least two decimals and at most four ($1.29, $0.0645, $0.0052). */
export function dollars(n: number): string {
  const s = n.toFixed(4).replace(/0{1,2}$/, '');
  return `$${s}`;
}

function trim(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

export function num(n: number, digits = 3): string {
  return trim(n.toFixed(digits));
}

export function formatEstimate(spec: ClusterSpec, plan: Plan): string {
  const type = getInstanceType(plan.instanceType, plan.region);
  const gpus = type.gpus > 0 ? `, ${type.gpus} GPU${type.gpus === 1 ? '' : 's'}` : '';
  const resources = Object.entries(spec.resources).map(([k, v]) => `${k}=${v}`);
  const node0 = plan.nodes[plan.schedulerNode];
  const cp = plan.controlPlaneCostPerHour > 0 ? ` + EKS control plane ${dollars(plan.controlPlaneCostPerHour)}` : '';
  const rows: Array<[string, string]> = [
    ['instance type', `${plan.instanceType} (${type.vcpu} vCPU, ${num(type.memoryGiB)} GiB${gpus}, ${dollars(type.pricePerHour)}/h)`],
    ['workers', `${spec.nWorkers} × ${num(spec.workerCpu)} vCPU, ${num(spec.workerMemoryGiB)} GiB${resources.length ? `, ${resources.join(', ')}` : ''}`],
    ['scheduler', `${num(spec.schedulerCpu)} vCPU, ${num(spec.schedulerMemoryGiB)} GiB on node ${plan.schedulerNode} beside ${node0?.workers ?? 0} worker${node0?.workers === 1 ? '' : 's'}`],
    ['nodes', String(plan.instances)],
    ['workers per node', `${plan.workersPerInstance} (bound by ${plan.boundBy})`],
    ['allocatable/node', `${num(node0?.allocatable.cpu ?? 0)} vCPU, ${num(node0?.allocatable.memoryGiB ?? 0, 2)} GiB, ${node0?.allocatable.pods ?? 0} pods`],
    ['headroom', `${num(plan.headroom.cpu)} vCPU, ${num(plan.headroom.memoryGiB, 2)} GiB, ${plan.headroom.pods} pods unused`],
    ['cost', `${dollars(plan.costPerHour)}/h (EC2 ${dollars(plan.ec2CostPerHour)}${cp})`],
    ['per worker-hour', dollars(plan.costPerWorkerHour)],
    ['SQS route', sqsRouteLine()],
    ['prices', plan.priceSource],
  ];
  return `Estimate for ${spec.name ?? 'a cluster'} in ${plan.region}\n${formatKeyValues(rows, '  ')}`;
}

/** Request cost of the SQS route (shared/cost/requests.ts): billed per use, on top of the hourly cost. */
function sqsRouteLine(): string {
  const route = estimateRouteCost();
  return `+ ${dollars(route.idlePerHour)}/h with a client connected (long polling) and ${dollars(route.perMillionTasks)} per million tasks ` +
    `(${route.workload.tasksPerMessage} tasks per message, ${route.sqsRequestsPerThousandTasks} SQS requests per 1,000 tasks; SQS and S3 bill per request, each 64 KiB chunk counts)`;
}

export function formatTemplates(rows: Array<{ template: TemplateInfo; spec: ClusterSpec; plan: Plan }>): string {
  if (rows.length === 0) return 'No templates found.';
  const header = ['NAME', 'INSTANCE', 'WORKERS', 'NODES', '$/HOUR', 'DESCRIPTION'];
  const body = rows.map(({ template, spec, plan }) => [
    template.name,
    spec.instanceType,
    `${spec.nWorkers} × ${num(spec.workerCpu)} vCPU/${num(spec.workerMemoryGiB)} GiB`,
    String(plan.instances),
    dollars(plan.costPerHour),
    template.description,
  ]);
  return formatColumns([header, ...body]);
}
