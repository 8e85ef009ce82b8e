/**
 * Request cost of the SQS route (issue 12), pure. EC2 and the control plane
 * are billed by the hour (`shared/plan/planner.ts`); SQS and S3 are billed per
 * request, so this module prices traffic:
 *
 * - SQS: $ per million requests (FIFO dearer than standard). Every API call
 *   is a request, and each 64 KiB chunk of a call's payload is billed as one
 *   request: a SendMessageBatch of 10 messages totalling 100 KiB is 2
 *   requests. An empty long poll (ReceiveMessage, 20 s) is one request.
 * - S3 (payloads over the inline limit): PUT per thousand, GET per thousand;
 *   DELETE is free. The SQS message then carries a small pointer.
 *
 * Two figures come out: the standing cost of a cluster with the route open
 * (its scheduler long-polls the request queue, each client long-polls its
 * reply queue and heartbeats), and the cost of a workload (tasks batched into
 * messages, results batched into replies). Prices are us-east-1 list prices
 * (Amazon SQS and S3 pricing pages); the free tier is ignored, so an estimate
 * never understates.
 */
export interface RequestPrices {
  sqsFifoPerMillion: number;
  sqsStandardPerMillion: number;
  s3PutPerThousand: number;
  s3GetPerThousand: number;
}

export const REQUEST_PRICES: Readonly<RequestPrices> = Object.freeze({
  sqsFifoPerMillion: 0.5,
  sqsStandardPerMillion: 0.4,
  s3PutPerThousand: 0.005,
  s3GetPerThousand: 0.0004,
});

/** Each 64 KiB chunk of a request's payload is billed as one request. */
export const SQS_BILLING_CHUNK_BYTES = 64 * 1024;
/** Most messages one SQS batch call carries. */
export const SQS_MAX_BATCH = 10;
/** Largest SQS call payload (messages of a batch together). */
export const SQS_MAX_CALL_BYTES = 1024 * 1024;
/** Long-poll wait of the bridge and the client (one empty receive per this many seconds while idle). */
export const LONG_POLL_SECONDS = 20;
/** A client's session heartbeat (TagQueue) period, as in `shared/ports/cluster-queues.ts`. */
export const HEARTBEAT_SECONDS = 60;
/** Payloads larger than this go to S3 (`INLINE_PAYLOAD_LIMIT_BYTES`). */
export const INLINE_LIMIT_BYTES = 200 * 1024;
/** Size of an S3 pointer that replaces a large payload in the message. */
export const POINTER_BYTES = 256;

/** Billed requests for one call carrying `payloadBytes` (at least 1). */
export function billedRequests(payloadBytes: number): number {
  if (!Number.isFinite(payloadBytes) || payloadBytes <= 0) return 1;
  return Math.max(1, Math.ceil(payloadBytes / SQS_BILLING_CHUNK_BYTES));
}

export interface RequestCount {
  sqsFifo: number;
  sqsStandard: number;
  s3Put: number;
  s3Get: number;
}

export interface RequestCost extends RequestCount {
  dollars: number;
}

export function priceRequests(count: RequestCount, prices: RequestPrices = REQUEST_PRICES): RequestCost {
  const dollars =
    (count.sqsFifo * prices.sqsFifoPerMillion) / 1e6 +
    (count.sqsStandard * prices.sqsStandardPerMillion) / 1e6 +
    (count.s3Put * prices.s3PutPerThousand) / 1e3 +
    (count.s3Get * prices.s3GetPerThousand) / 1e3;
  return { ...count, dollars: round(dollars) };
}

/**
 * Standing requests per hour of a cluster with the SQS route open: the
 * scheduler's long poll of the FIFO request queue, and per connected client a
 * long poll of its (standard) reply queue plus its heartbeat.
 */
export function idleRequestsPerHour(clients: number): RequestCount {
  const polls = 3600 / LONG_POLL_SECONDS;
  return { sqsFifo: polls, sqsStandard: Math.max(0, clients) * (polls + 3600 / HEARTBEAT_SECONDS), s3Put: 0, s3Get: 0 };
}

export interface RouteWorkload {
  tasks: number;
  /** Serialized bytes of one task in a submission. */
  bytesPerTask: number;
  /** Serialized bytes of one result in a reply. */
  bytesPerResult: number;
  /** Tasks per submission message (the client batches up to the size limit). */
  tasksPerMessage: number;
  /** Results per reply message. */
  resultsPerMessage: number;
}

/**
 * Requests for a workload over the route: each message is sent (in batches of
 * up to 10 per call, within the call size limit), received (batched alike)
 * and deleted (batched, no payload). A message over the inline limit costs an
 * S3 PUT and GET and travels as a pointer.
 */
export function workloadRequests(workload: RouteWorkload): RequestCount {
  const tasks = Math.max(0, Math.ceil(workload.tasks));
  if (tasks === 0) return { sqsFifo: 0, sqsStandard: 0, s3Put: 0, s3Get: 0 };
  const submit = direction(tasks, workload.tasksPerMessage, workload.bytesPerTask);
  const reply = direction(tasks, workload.resultsPerMessage, workload.bytesPerResult);
  return {
    sqsFifo: submit.sqs,
    sqsStandard: reply.sqs,
    s3Put: submit.s3 + reply.s3,
    s3Get: submit.s3 + reply.s3,
  };
}

function direction(items: number, perMessage: number, bytesPerItem: number): { sqs: number; s3: number } {
  const per = Math.max(1, Math.floor(perMessage));
  const messages = Math.ceil(items / per);
  const fullBytes = per * Math.max(0, bytesPerItem);
  const lastBytes = (items - (messages - 1) * per) * Math.max(0, bytesPerItem);
  const wire = (bytes: number): number => (bytes > INLINE_LIMIT_BYTES ? POINTER_BYTES : bytes);
  const s3 = (fullBytes > INLINE_LIMIT_BYTES ? messages - 1 : 0) + (lastBytes > INLINE_LIMIT_BYTES ? 1 : 0);
  // Messages per call: at most 10, and together within the call limit.
  const perCall = Math.max(1, Math.min(SQS_MAX_BATCH, Math.floor(SQS_MAX_CALL_BYTES / Math.max(1, wire(fullBytes)))));
  const calls = Math.ceil(messages / perCall);
  const fullCalls = Math.floor((messages - 1) / perCall);
  const lastCallMessages = messages - fullCalls * perCall;
  // A full call carries perCall full messages; the last call the remainder (its last message may be shorter).
  const transferRequests =
    fullCalls * billedRequests(perCall * wire(fullBytes)) + billedRequests((lastCallMessages - 1) * wire(fullBytes) + wire(lastBytes));
  // Send and receive carry the payload; delete carries receipt handles only.
  return { sqs: 2 * transferRequests + calls, s3 };
}

/** What `recc estimate` shows for the route. */
export interface RouteCostEstimate {
  /** Standing cost per hour with the route open and `clients` connected. */
  idlePerHour: number;
  /** Cost of one million tasks under the assumed workload. */
  perMillionTasks: number;
  /** SQS requests (all queues) per 1,000 tasks under the assumed workload. */
  sqsRequestsPerThousandTasks: number;
  workload: RouteWorkload;
  clients: number;
}

/** The workload `recc estimate` assumes: small tasks and results, batched 100 per message. */
export const DEFAULT_ROUTE_WORKLOAD: Readonly<RouteWorkload> = Object.freeze({
  tasks: 1_000_000,
  bytesPerTask: 512,
  bytesPerResult: 256,
  tasksPerMessage: 100,
  resultsPerMessage: 100,
});

export function estimateRouteCost(options: { workload?: Partial<RouteWorkload>; clients?: number; prices?: RequestPrices } = {}): RouteCostEstimate {
  const workload: RouteWorkload = { ...DEFAULT_ROUTE_WORKLOAD, ...options.workload };
  const clients = options.clients ?? 1;
  const prices = options.prices ?? REQUEST_PRICES;
  const idle = priceRequests(idleRequestsPerHour(clients), prices);
  const million = workloadRequests({ ...workload, tasks: 1_000_000 });
  const thousand = workloadRequests({ ...workload, tasks: 1_000 });
  return {
    idlePerHour: idle.dollars,
    perMillionTasks: priceRequests(million, prices).dollars,
    sqsRequestsPerThousandTasks: thousand.sqsFifo + thousand.sqsStandard,
    workload,
    clients,
  };
}

function round(n: number): number {
  return Math.round(n * 1e8) / 1e8;
}
