import { describe, expect, it } from 'vitest';
import {
  REQUEST_PRICES,
  billedRequests,
  estimateRouteCost,
  idleRequestsPerHour,
  priceRequests,
  workloadRequests,
} from '../../../shared/cost/requests.ts';
import { formatEstimate } from '../../../shared/plan/format.ts';
import { estimate } from '../../../shared/plan/planner.ts';

describe('Module: shared/cost/requests (SQS route request cost)', () => {
  describe('Function: billedRequests', () => {
    it('bills each started 64 KiB chunk of a call as one request, and an empty call as one', () => {
      expect(billedRequests(0)).toBe(1);
      expect(billedRequests(1)).toBe(1);
      expect(billedRequests(64 * 1024)).toBe(1);
      expect(billedRequests(64 * 1024 + 1)).toBe(2);
      expect(billedRequests(256 * 1024)).toBe(4);
      expect(billedRequests(1024 * 1024)).toBe(16);
      expect(billedRequests(Number.NaN)).toBe(1);
    });
  });

  describe('Function: priceRequests', () => {
    it('prices SQS per million (FIFO $0.50, standard $0.40) and S3 per thousand', () => {
      expect(priceRequests({ sqsFifo: 1_000_000, sqsStandard: 0, s3Put: 0, s3Get: 0 }).dollars).toBe(0.5);
      expect(priceRequests({ sqsFifo: 0, sqsStandard: 1_000_000, s3Put: 0, s3Get: 0 }).dollars).toBe(0.4);
      expect(priceRequests({ sqsFifo: 0, sqsStandard: 0, s3Put: 1000, s3Get: 1000 }).dollars).toBeCloseTo(0.0054, 10);
    });
  });

  describe('Function: idleRequestsPerHour', () => {
    it('counts the scheduler long poll (FIFO) and per client a long poll and a heartbeat (standard)', () => {
      expect(idleRequestsPerHour(0)).toEqual({ sqsFifo: 180, sqsStandard: 0, s3Put: 0, s3Get: 0 });
      expect(idleRequestsPerHour(2)).toEqual({ sqsFifo: 180, sqsStandard: 2 * (180 + 60), s3Put: 0, s3Get: 0 });
    });
  });

  describe('Function: workloadRequests', () => {
    it('one task per message and per reply: send + receive + delete per batch of 10 messages', () => {
      // 1,000 tasks of 100 B: 100 send calls, 100 receives, 100 deletes each way.
      const r = workloadRequests({ tasks: 1000, bytesPerTask: 100, bytesPerResult: 100, tasksPerMessage: 1, resultsPerMessage: 1 });
      expect(r).toEqual({ sqsFifo: 300, sqsStandard: 300, s3Put: 0, s3Get: 0 });
    });

    it('batching many tasks per message cuts the calls, but a call is still billed by its 64 KiB chunks', () => {
      // 100 tasks × 512 B = 50 KiB per message; 10 messages per call = 500 KiB → 8 chunks each way.
      const r = workloadRequests({ tasks: 1000, bytesPerTask: 512, bytesPerResult: 512, tasksPerMessage: 100, resultsPerMessage: 100 });
      expect(r.sqsFifo).toBe(2 * 8 + 1);
      expect(r.sqsStandard).toBe(2 * 8 + 1);
    });

    it('keeps a call within 1 MiB: fewer messages per call when messages are large', () => {
      // 150 KiB messages: 6 per call (900 KiB, 15 chunks); 10 messages → 2 calls (6 + 4).
      const r = workloadRequests({ tasks: 10, bytesPerTask: 150 * 1024, bytesPerResult: 10, tasksPerMessage: 1, resultsPerMessage: 10 });
      expect(r.sqsFifo).toBe(2 * (15 + 10) + 2);
      expect(r.s3Put).toBe(0);
    });

    it('sends payloads over 200 KiB through S3 (PUT + GET) and only a pointer through SQS', () => {
      const r = workloadRequests({ tasks: 3, bytesPerTask: 300 * 1024, bytesPerResult: 10, tasksPerMessage: 1, resultsPerMessage: 1 });
      expect(r.s3Put).toBe(3);
      expect(r.s3Get).toBe(3);
      // Three pointers fit one call: 1 send + 1 receive + 1 delete.
      expect(r.sqsFifo).toBe(3);
    });

    it('costs nothing for no tasks', () => {
      expect(workloadRequests({ tasks: 0, bytesPerTask: 1, bytesPerResult: 1, tasksPerMessage: 1, resultsPerMessage: 1 })).toEqual({ sqsFifo: 0, sqsStandard: 0, s3Put: 0, s3Get: 0 });
    });
  });

  describe('Function: estimateRouteCost', () => {
    it('gives the idle $/hour and $ per million tasks for the default workload', () => {
      const e = estimateRouteCost();
      expect(e.idlePerHour).toBeCloseTo((180 * 0.5 + 240 * 0.4) / 1e6, 10);
      // 10,000 messages each way in 1,000 calls: 17,000 FIFO and 9,000 standard requests.
      expect(e.perMillionTasks).toBeCloseTo((17_000 * REQUEST_PRICES.sqsFifoPerMillion + 9_000 * REQUEST_PRICES.sqsStandardPerMillion) / 1e6, 10);
      expect(e.sqsRequestsPerThousandTasks).toBe(26);
    });

    it('is far dearer without batching', () => {
      const batched = estimateRouteCost();
      const single = estimateRouteCost({ workload: { tasksPerMessage: 1, resultsPerMessage: 1 } });
      expect(single.perMillionTasks).toBeGreaterThan(10 * batched.perMillionTasks);
    });
  });

  it('recc estimate shows the route cost beside the hourly cost', () => {
    const { spec, plan } = estimate({ overrides: { nWorkers: 2 } });
    expect(formatEstimate(spec, plan)).toMatch(/SQS route\s+\+ \$[\d.]+\/h with a client connected .* per million tasks/);
  });
});
