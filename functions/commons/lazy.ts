import type { Context } from 'aws-lambda';

export type LambdaHandler<E, R> = (event: E, context: Context) => Promise<R>;

/**
 * A Lambda entry point built once per cold start, on first use, so importing
 * a handler module never reads configuration or opens clients. `build` may be
 * async (to `await import(...)` heavy dependencies); concurrent first calls
 * share one build, and a build that fails is retried on the next call.
 */
export function lazyHandler<E, R>(build: () => LambdaHandler<E, R> | Promise<LambdaHandler<E, R>>): LambdaHandler<E, R> {
  let built: Promise<LambdaHandler<E, R>> | undefined;
  return async (event, context) => {
    built ??= (async () => build())().catch((err: unknown) => {
      built = undefined;
      throw err;
    });
    return (await built)(event, context);
  };
}
