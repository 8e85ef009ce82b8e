import { describe, expect, it } from 'vitest';
import { sqsBridgeConfigFromEnv, sqsBridgeEnv } from '../../../scheduler/sqs-bridge/config.ts';
import { SqsBridgeConfigError } from '../../../scheduler/sqs-bridge/errors.ts';

const base = {
  RECC_SQS_REQUEST_QUEUE_URL: 'http://127.0.0.1:4566/000000000000/recc-c-abc123-req.fifo',
  RECC_S3_PAYLOAD_BUCKET: 'recc-payloads',
};

const problems = (env: Record<string, string>): Array<{ path: string; message: string }> => {
  try {
    sqsBridgeConfigFromEnv({ ...base, ...env }, { stateDir: '/tmp/x' });
  } catch (err) {
    expect(err).toBeInstanceOf(SqsBridgeConfigError);
    return (err as SqsBridgeConfigError).details as Array<{ path: string; message: string }>;
  }
  return [];
};

describe('SQS bridge configuration: deduplication window and session grace from the environment', () => {
  it('reads the window, the id cap and the session grace, and writes them back for launchers', () => {
    const config = sqsBridgeConfigFromEnv({ ...base, RECC_SQS_DEDUP_WINDOW_SECONDS: '1800', RECC_SQS_DEDUP_MAX_IDS: '5000', RECC_SQS_SESSION_GRACE_SECONDS: '7200' }, { stateDir: '/tmp/x' });
    expect(config?.dedup).toEqual({ windowMs: 1_800_000, maxIds: 5000 });
    expect(config?.sessionGraceMs).toBe(7_200_000);
    const env = sqsBridgeEnv(config!);
    expect(env.RECC_SQS_DEDUP_WINDOW_SECONDS).toBe('1800');
    expect(env.RECC_SQS_DEDUP_MAX_IDS).toBe('5000');
    expect(env.RECC_SQS_SESSION_GRACE_SECONDS).toBe('7200');
  });

  it('leaves the defaults when nothing is set', () => {
    const config = sqsBridgeConfigFromEnv(base, { stateDir: '/tmp/x' });
    expect(config?.dedup).toBeUndefined();
    expect(config?.sessionGraceMs).toBeUndefined();
  });

  it('refuses a window below SQS redelivery (330 s) and malformed numbers, naming each variable', () => {
    expect(problems({ RECC_SQS_DEDUP_WINDOW_SECONDS: '120' })).toEqual([{ path: 'RECC_SQS_DEDUP_WINDOW_SECONDS', message: expect.stringMatching(/at least 330 s/) }]);
    const bad = problems({ RECC_SQS_DEDUP_WINDOW_SECONDS: 'soon', RECC_SQS_DEDUP_MAX_IDS: '-1', RECC_SQS_SESSION_GRACE_SECONDS: '0' });
    expect(bad.map((p) => p.path).sort()).toEqual(['RECC_SQS_DEDUP_MAX_IDS', 'RECC_SQS_DEDUP_WINDOW_SECONDS', 'RECC_SQS_SESSION_GRACE_SECONDS']);
  });
});
