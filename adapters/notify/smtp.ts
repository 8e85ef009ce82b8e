import nodemailer, { type Transporter } from 'nodemailer';
import type { Notification, Notifier } from '../../shared/ports/notifier.ts';
import { NotificationFailedError } from './errors.ts';

/**
 * E-mail over an SMTP relay (on-prem) with nodemailer. Recipients are the
 * configured list plus the notification's own `to`.
 */
export interface SmtpNotifierOptions {
  host: string;
  port: number;
  /** TLS from the first byte (port 465); otherwise STARTTLS when offered. */
  secure: boolean;
  user?: string;
  password?: string;
  from: string;
  to: readonly string[];
  /** Skip certificate checks (local relays in tests only). @default false */
  allowSelfSigned?: boolean;
}

export class SmtpEmailNotifier implements Notifier {
  readonly channel = 'email';
  private readonly transport: Transporter;

  constructor(private readonly options: SmtpNotifierOptions) {
    this.transport = nodemailer.createTransport({
      host: options.host,
      port: options.port,
      secure: options.secure,
      ...(options.user ? { auth: { user: options.user, pass: options.password ?? '' } } : {}),
      ...(options.allowSelfSigned ? { tls: { rejectUnauthorized: false } } : {}),
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    });
  }

  async send(notification: Notification): Promise<void> {
    const to = recipients(this.options.to, notification.to);
    if (to.length === 0) return;
    try {
      await this.transport.sendMail({ from: this.options.from, to, subject: notification.subject, text: notification.text });
    } catch (err) {
      throw new NotificationFailedError(this.channel, `SMTP relay ${this.options.host}:${this.options.port} refused the message`, { cause: err });
    }
  }

  close(): void {
    this.transport.close();
  }
}

/** Configured recipients plus extra ones, without duplicates, in order. */
export function recipients(configured: readonly string[], extra: readonly string[] | undefined): string[] {
  return [...new Set([...configured, ...(extra ?? [])])];
}
