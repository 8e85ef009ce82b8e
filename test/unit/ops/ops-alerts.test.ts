import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context, SNSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { makeHandler } from '../../../functions/ops-alerts.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { formatAlarmNotice } from '../../../shared/ops/alarm-message.ts';
import type { Notification, Notifier } from '../../../shared/ports/notifier.ts';

/**
 * Issue 17 item 10: CloudWatch alarms reach the alert channel. The sample
 * event is the SNS notification CloudWatch sends (events/opsAlerts.json,
 * shaped as AWS documents it), so the handler is tested on what it receives.
 */
const EVENT = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', '..', 'events', 'opsAlerts.json'), 'utf8')) as SNSEvent;
const context = { awsRequestId: 'req-1' } as Context;

class CapturingNotifier implements Notifier {
  readonly sent: Notification[] = [];
  constructor(readonly channel: string, private readonly fail = false) {}
  async send(n: Notification): Promise<void> {
    if (this.fail) throw new Error(`${this.channel} is down`);
    this.sent.push(n);
  }
}

describe('Function: formatAlarmNotice', () => {
  it('says which alarm fired, why, and what to do', () => {
    const notice = formatAlarmNotice(EVENT.Records[0]!.Sns.Message);
    expect(notice.state).toBe('ALARM');
    expect(notice.subject).toBe('recc operations ALARM: recc-ci-provisioning-dlq');
    expect(notice.text).toContain('recc-ci-provisioning-dlq is ALARM (was OK) at 2026-12-05T10:05:00.123+0000');
    expect(notice.text).toContain('Why: Threshold Crossed');
    expect(notice.text).toContain('What to do: cluster steps failed 5 times and were dead-lettered');
  });

  it.each(['', 'not json', '[]', 'null', '{"AlarmName": 7}', '{"__proto__": {"AlarmName": "x"}}', JSON.stringify({ AlarmName: 'x', constructor: 'y', NewStateValue: { evil: true } })])('never throws on %j', (message) => {
    const notice = formatAlarmNotice(message);
    expect(typeof notice.subject).toBe('string');
    expect(notice.text.length).toBeLessThanOrEqual(3000);
  });

  it('says resolved on OK and omits the runbook', () => {
    const msg = JSON.stringify({ AlarmName: 'recc-prod-harvester-errors', NewStateValue: 'OK', OldStateValue: 'ALARM' });
    const notice = formatAlarmNotice(msg);
    expect(notice.subject).toBe('recc operations resolved: recc-prod-harvester-errors');
    expect(notice.text).not.toContain('What to do');
  });
});

describe('Function: opsAlerts handler', () => {
  it('sends each alarm to every channel', async () => {
    const slack = new CapturingNotifier('slack');
    const email = new CapturingNotifier('email');
    const result = await makeHandler({ notifiers: [slack, email], logger: silentLogger })(EVENT, context);
    expect(result).toEqual({ alarms: 1, sent: 2 });
    expect(slack.sent[0]?.subject).toBe('recc operations ALARM: recc-ci-provisioning-dlq');
    expect(email.sent[0]?.text).toEqual(slack.sent[0]?.text);
  });

  it('fails the invocation when a channel fails (so Lambda retries), after trying the others', async () => {
    const down = new CapturingNotifier('slack', true);
    const email = new CapturingNotifier('email');
    await expect(makeHandler({ notifiers: [down, email], logger: silentLogger })(EVENT, context)).rejects.toThrow('1 operations alert deliveries failed');
    expect(email.sent).toHaveLength(1);
  });

  it('accepts an event without records', async () => {
    expect(await makeHandler({ notifiers: [], logger: silentLogger })({} as SNSEvent, context)).toEqual({ alarms: 0, sent: 0 });
  });
});
