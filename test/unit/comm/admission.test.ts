import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AdmissionControl, TokenBucket, admissionFromEnv, admissionLimits } from '../../../comm/admission.ts';
import { ValidationError } from '../../../shared/core/errors.ts';
import type { Logger } from '../../../shared/core/logger.ts';

/** A socket stand-in: admission only reads the peer, listens for close and destroys. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  constructor(readonly remotePort: number, readonly remoteAddress = '127.0.0.1') {
    super();
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      queueMicrotask(() => this.emit('close'));
    }
    return this;
  }
}
const sock = (port: number) => new FakeSocket(port) as unknown as Socket & FakeSocket;

function capture() {
  const lines: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
  const log = (level: string) => (message: string, fields: Record<string, unknown> = {}) => lines.push({ level, message, fields });
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: () => logger };
  return { lines, logger };
}

describe('TokenBucket', () => {
  it('allows a burst, then refills at the rate', () => {
    let t = 0;
    const bucket = new TokenBucket(10, 3, () => t);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    t = 100; // 0.1 s at 10/s = 1 token
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
    t = 10_000; // never more than the burst
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
  });
});

describe('AdmissionControl', () => {
  it('caps pending connections, evicting the oldest silent one first, and refuses when every pending peer has spoken', () => {
    const { logger } = capture();
    let t = 0;
    const admission = new AdmissionControl({ maxPending: 2, acceptBurst: 100 }, logger, () => t);
    const [a, b, c, d] = [sock(1), sock(2), sock(3), sock(4)];
    expect(admission.admit(a)).toBe(true);
    expect(admission.admit(b)).toBe(true);
    admission.heard(b);
    t = 600;
    expect(admission.admit(c)).toBe(true); // evicts a (silent for 600 ms), not b (spoke)
    expect(a.destroyed).toBe(true);
    expect(b.destroyed).toBe(false);
    admission.heard(c);
    expect(admission.admit(d)).toBe(false); // both pending peers spoke: refuse the newcomer
    expect(d.destroyed).toBe(true);
    admission.authenticated(b);
    expect(admission.pendingCount).toBe(1);
    expect(admission.admit(sock(5))).toBe(true);
  });

  it('never evicts a silent socket younger than evictSilentAfterMs (a burst of real peers must not evict each other)', () => {
    const { logger } = capture();
    let t = 0;
    const admission = new AdmissionControl({ maxPending: 2, acceptBurst: 100 }, logger, () => t);
    const [a, b] = [sock(1), sock(2)];
    admission.admit(a);
    t = 400;
    admission.admit(b);
    t = 499;
    expect(admission.admit(sock(3))).toBe(false);
    t = 500;
    expect(admission.admit(sock(4))).toBe(true); // a is now old enough
    expect([a.destroyed, b.destroyed]).toEqual([true, false]);
    expect(admission.admit(sock(5))).toBe(false); // b is 100 ms old
  });

  it('refuses beyond the accept rate, and summarises refusals in one warn line per interval', () => {
    const { lines, logger } = capture();
    let t = 0;
    const admission = new AdmissionControl({ acceptRatePerSecond: 1, acceptBurst: 2 }, logger, () => t);
    admission.listener = 'tcp://127.0.0.1:1';
    const results = Array.from({ length: 50 }, (_, i) => admission.admit(sock(10 + i)));
    expect(results.filter(Boolean)).toHaveLength(2);
    admission.count('closedSilent', '127.0.0.1:10');
    admission.flush();
    admission.flush(); // nothing new: no line
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', fields: { event: 'comm.admission', listener: 'tcp://127.0.0.1:1', refusedRate: 48, closedSilent: 1, maxPending: 256 } });
    t = 1000;
    expect(admission.admit(sock(99))).toBe(true);
  });

  it('rejects bad limits with a typed error naming each field', () => {
    const err = (() => {
      try {
        admissionLimits({ maxPending: 0, acceptRatePerSecond: Number.NaN, silentTimeoutMs: 20_000 });
      } catch (e) {
        return e;
      }
    })() as ValidationError;
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.details.map((d) => d.path)).toEqual(['admission.maxPending', 'admission.acceptRatePerSecond']);
    expect(() => admissionLimits({ silentTimeoutMs: 20_000 })).toThrow(expect.objectContaining({ details: [{ path: 'admission.silentTimeoutMs', message: 'expected at most handshakeTimeoutMs' }] }));
    expect(() => admissionLimits({ evictSilentAfterMs: 3_000 })).toThrow(expect.objectContaining({ details: [{ path: 'admission.evictSilentAfterMs', message: 'expected at most silentTimeoutMs' }] }));
  });
});

describe('Function: admissionFromEnv', () => {
  it('reads the limits an operator set, keeps defaults for the rest, and names each bad variable', () => {
    expect(admissionFromEnv({ RECC_MAX_PENDING_CONNECTIONS: '64', RECC_ACCEPT_RATE_PER_SECOND: ' 50 ' })).toEqual({ maxPending: 64, acceptRatePerSecond: 50 });
    expect(admissionFromEnv({})).toEqual({});
    expect(() => admissionFromEnv({ RECC_ACCEPT_BURST: 'lots' })).toThrow(expect.objectContaining({ details: [{ path: 'RECC_ACCEPT_BURST', message: 'expected a number, got "lots"' }] }));
    expect(() => admissionFromEnv({ RECC_MAX_PENDING_CONNECTIONS: '-1' })).toThrow(expect.objectContaining({ details: [{ path: 'RECC_MAX_PENDING_CONNECTIONS', message: 'expected a positive number, got -1' }] }));
  });
});
