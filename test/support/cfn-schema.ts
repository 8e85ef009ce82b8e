import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * Validate a CloudFormation template's resources against the vendored
 * resource provider schemas (test/fixtures/cloudformation-schemas/, see its
 * SOURCE.md), offline. Values that are intrinsic functions (`Ref`,
 * `Fn::GetAtt`, `Fn::Sub`, ...) are only known at deploy time: they are
 * replaced by a marker and errors about exactly those values are not
 * counted, as cfn-lint does; everything else (property names, required
 * properties, types, enums, patterns, lengths, nested shapes) is checked.
 */
export const CFN_SCHEMA_DIR = join(import.meta.dirname, '..', 'fixtures', 'cloudformation-schemas');
const INTRINSIC = '\u0000intrinsic';

export function vendoredCfnTypes(): string[] {
  return readdirSync(CFN_SCHEMA_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, '').replaceAll('-', '::'));
}

function replaceIntrinsics(value: unknown, path: string, marks: Set<string>): unknown {
  if (Array.isArray(value)) return value.map((v, i) => replaceIntrinsics(v, `${path}/${i}`, marks));
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'))) {
      marks.add(path);
      return INTRINSIC;
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceIntrinsics(v, `${path}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`, marks)]));
  }
  return value;
}

export class CfnSchemaValidator {
  /** Patterns JavaScript cannot compile even after translation (each one is then not checked, and listed here). */
  readonly uncheckedPatterns: string[] = [];
  private readonly ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, code: { regExp: Object.assign((source: string, flags: string) => this.regExp(source, flags), { code: 'new RegExp' }) } });

  /** The schemas' patterns are written for Python's `re`: `\\A`/`\\Z` anchors become `^`/`$`; a pattern that is not valid with the `u` flag is tried without it. */
  private regExp(source: string, flags: string): RegExp {
    const translated = source.replaceAll('\\A', '^').replaceAll('\\Z', '$');
    for (const f of [flags, flags.replace('u', '')]) {
      try {
        return new RegExp(translated, f);
      } catch {
        // next form
      }
    }
    this.uncheckedPatterns.push(source);
    return /[\s\S]*/;
  }
  private readonly compiled = new Map<string, ValidateFunction>();

  private validatorFor(type: string): ValidateFunction | undefined {
    const cached = this.compiled.get(type);
    if (cached) return cached;
    let schema: Record<string, unknown>;
    try {
      schema = JSON.parse(readFileSync(join(CFN_SCHEMA_DIR, `${type.replaceAll('::', '-')}.json`), 'utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
    delete schema.$schema;
    delete schema.$id;
    const fn = this.ajv.compile(schema);
    this.compiled.set(type, fn);
    return fn;
  }

  /** Every problem as `<logical id> (<type>) <path>: <message>`; empty when the template is valid. */
  validate(template: { Resources: Record<string, { Type: string; Properties?: unknown }> }): string[] {
    const problems: string[] = [];
    for (const [id, resource] of Object.entries(template.Resources)) {
      const validate = this.validatorFor(resource.Type);
      if (!validate) {
        problems.push(`${id} (${resource.Type}): no vendored schema; add test/fixtures/cloudformation-schemas/${resource.Type.replaceAll('::', '-')}.json (SOURCE.md)`);
        continue;
      }
      const marks = new Set<string>();
      const properties = replaceIntrinsics(resource.Properties ?? {}, '', marks);
      if (validate(properties)) continue;
      for (const e of (validate.errors ?? []) as ErrorObject[]) {
        if (marks.has(e.instancePath)) continue;
        problems.push(`${id} (${resource.Type}) ${e.instancePath || '/'}: ${e.message ?? e.keyword}${e.params && 'additionalProperty' in e.params ? ` "${String(e.params.additionalProperty)}"` : ''}`);
      }
    }
    return problems;
  }
}
