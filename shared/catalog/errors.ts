import { NotFoundError, ValidationError } from '../core/errors.ts';

/** The instance type is not in the catalog; `suggestions` holds the nearest names. */
export class UnknownInstanceTypeError extends NotFoundError {
  readonly instanceType: string;
  readonly suggestions: string[];

  constructor(instanceType: string, suggestions: string[], options: { cause?: unknown } = {}) {
    super(`unknown instance type "${instanceType}"; nearest: ${suggestions.join(', ')}`, options);
    this.instanceType = instanceType;
    this.suggestions = suggestions;
  }
}

/** No price multiplier is recorded for this region. */
export class UnknownRegionError extends ValidationError {
  readonly region: string;

  constructor(region: string, known: string[], options: { cause?: unknown } = {}) {
    const message = `no prices recorded for region "${region}"; known regions: ${known.join(', ')}`;
    super(message, [{ path: 'region', message }], options);
    this.region = region;
  }
}

/** Options such as the daemonset overhead are out of range. */
export class CatalogOptionsError extends ValidationError {}
