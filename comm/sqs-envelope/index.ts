export * from './envelope.ts';
export * from './batching.ts';
export { EnvelopeError, type EnvelopeProblem } from './errors.ts';
export * from './route.ts';
