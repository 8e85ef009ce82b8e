import type { Notification, Notifier } from '../../shared/ports/notifier.ts';
import { NotificationFailedError } from './errors.ts';

/**
 * Slack incoming webhook (`POST` JSON `{text}` to the webhook URL). A non-2xx
 * answer or a network error throws NotificationFailedError; the URL (a
 * secret) is never put in errors or logs.
 */
export interface SlackNotifierOptions {
  webhookUrl: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default 10000 */
  timeoutMs?: number;
}

export class SlackNotifier implements Notifier {
  readonly channel = 'slack';
  private readonly fetch: typeof fetch;

  constructor(private readonly options: SlackNotifierOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  async send(notification: Notification): Promise<void> {
    let response: Response;
    try {
      response = await this.fetch(this.options.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(slackPayload(notification)),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new NotificationFailedError(this.channel, 'the webhook could not be reached', { cause: err });
    }
    if (!response.ok) {
      const body = (await response.text().catch(() => '')).slice(0, 200);
      throw new NotificationFailedError(this.channel, `the webhook answered ${response.status}${body ? ` (${body})` : ''}`);
    }
    await response.body?.cancel().catch(() => {});
  }
}

/** The webhook body: a plain-text fallback plus a section block with the subject in bold. */
export function slackPayload(n: Notification): Record<string, unknown> {
  return {
    text: `${n.subject}\n${n.text}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `*${escapeMrkdwn(n.subject)}*` } },
      { type: 'section', text: { type: 'mrkdwn', text: '```' + n.text.replace(/```/g, "'''") + '```' } },
    ],
  };
}

function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
