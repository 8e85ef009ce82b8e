/**
 * A CloudWatch alarm notification (the JSON that CloudWatch publishes to SNS)
 * as the alert channel shows it: one subject line and a few lines of text
 * saying what fired, why, and where to look (pure; functions/ops-alerts.ts
 * sends it through the cost alerts' notifiers, Slack and e-mail).
 */
export interface AlarmNotice {
  subject: string;
  text: string;
  /** ALARM, OK or INSUFFICIENT_DATA; `unknown` when the message was not an alarm. */
  state: string;
}

const MAX_TEXT = 3000;

/** What each recc alarm means for an operator, keyed by the alarm name's suffix (serverless.yml). */
const RUNBOOK: Record<string, string> = {
  'provisioning-dlq': 'cluster steps failed 5 times and were dead-lettered: read the provisioner log for the cluster ids, fix the cause, then redrive the DLQ (aws sqs start-message-move-task)',
  'provisioner-errors': 'the provisioner function failed: clusters may be stuck in REQUESTED/PROVISIONING; see its log group',
  'provisioner-throttles': 'the provisioner hit its reserved concurrency: cluster creation is delayed',
  'harvester-errors': 'the harvester function failed: idle clusters are not being removed and may keep nodes billed',
  'harvester-failures': 'the harvester ran but could not reap or clean up some clusters: see the "harvest finished" log lines for the errors',
  'harvester-not-running': 'the harvester has not run for 15 minutes (schedule disabled or failing): idle clusters keep running',
  'cost-reporter-errors': 'the cost reporter failed: costs, budgets and cost alerts are not updated',
  'job-starter-errors': 'scheduled jobs failed to start',
  'api-5xx': 'the HTTP API answered 5xx (a function failed or was throttled): see the API access log and the functions\' logs',
};

export function formatAlarmNotice(message: string): AlarmNotice {
  let alarm: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(message);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || typeof (parsed as Record<string, unknown>).AlarmName !== 'string') throw new Error('not an alarm');
    alarm = parsed as Record<string, unknown>;
  } catch {
    return { subject: 'recc operations: a notification that is not a CloudWatch alarm', text: message.slice(0, MAX_TEXT), state: 'unknown' };
  }
  const str = (k: string) => (typeof alarm[k] === 'string' ? (alarm[k] as string) : '');
  const name = str('AlarmName');
  const state = str('NewStateValue') || 'unknown';
  const runbook = Object.entries(RUNBOOK).find(([suffix]) => name.endsWith(suffix))?.[1];
  const lines = [
    `${name} is ${state}${str('OldStateValue') ? ` (was ${str('OldStateValue')})` : ''} at ${str('StateChangeTime') || 'an unknown time'}`,
    ...(str('AlarmDescription') ? [str('AlarmDescription')] : []),
    ...(str('NewStateReason') ? [`Why: ${str('NewStateReason')}`] : []),
    ...(runbook && state === 'ALARM' ? [`What to do: ${runbook}`] : []),
    `Account ${str('AWSAccountId') || '?'}, ${str('Region') || '?'}`,
  ];
  const icon = state === 'ALARM' ? 'ALARM' : state === 'OK' ? 'resolved' : state;
  return { subject: `recc operations ${icon}: ${name}`, text: lines.join('\n').slice(0, MAX_TEXT), state };
}
