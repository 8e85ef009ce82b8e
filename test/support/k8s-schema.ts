import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import ts from 'typescript';

/**
 * Strict JSON Schemas of the Kubernetes 1.30 API objects recc renders, and an
 * offline validator for them (issue 17, "What it must show").
 *
 * Source: the npm package `kubernetes-types` 1.30.0 (pinned dev dependency),
 * TypeScript declarations generated from the Kubernetes 1.30 OpenAPI
 * definitions: one interface per definition, `?` on what the API does not
 * require, `apiVersion`/`kind` as literal types. None of the npm packages
 * looked at ships the 1.30 JSON Schemas themselves, so this file turns those declarations into
 * draft-07 schemas the way openapi2jsonschema's `-strict` flavour does:
 * every object refuses properties it does not declare
 * (`additionalProperties: false`), required fields are required, maps keep
 * their value type, `IntOrString` is a number or a string.
 *
 * The result for the kinds in KINDS is vendored in
 * test/fixtures/kubernetes-schemas/v1.30.0-strict.json (readable, reviewable
 * in diffs), and a test checks that it is exactly what this generator makes
 * of the installed package. Regenerate after adding a kind:
 * `npx tsx test/support/k8s-schema.ts --write`.
 *
 * Known to be looser than the API server: integers are `number` (the
 * declarations do not carry int32/int64), enums are plain strings (the 1.30
 * OpenAPI v2 document lists them only in descriptions), and formats
 * (date-time, quantities' grammar) are not checked.
 */

export const K8S_SCHEMA_FILE = join(import.meta.dirname, '..', 'fixtures', 'kubernetes-schemas', 'v1.30.0-strict.json');
const SOURCE_PACKAGE = 'kubernetes-types';

/** `apiVersion/kind` of every object recc renders (adapters/eks/manifests/*). */
export const KINDS = [
  'v1/Namespace',
  'v1/ServiceAccount',
  'v1/Secret',
  'v1/ConfigMap',
  'v1/Service',
  'v1/ResourceQuota',
  'v1/LimitRange',
  'v1/PersistentVolume',
  'v1/PersistentVolumeClaim',
  'apps/v1/Deployment',
  'apps/v1/DaemonSet',
  'batch/v1/Job',
  'policy/v1/PodDisruptionBudget',
  'networking.k8s.io/v1/NetworkPolicy',
  'networking.k8s.io/v1/Ingress',
  'rbac.authorization.k8s.io/v1/Role',
  'rbac.authorization.k8s.io/v1/RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRole',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
] as const;

type Schema = Record<string, unknown>;

export interface K8sSchemaBundle {
  $comment: string;
  source: { package: string; version: string };
  /** `apiVersion/kind` → definition name. */
  kinds: Record<string, string>;
  definitions: Record<string, Schema>;
}

function packageRoot(): string {
  return dirname(createRequire(import.meta.url).resolve(`${SOURCE_PACKAGE}/package.json`));
}

function declarationFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : declarationFiles(path);
    return name.endsWith('.d.ts') ? [path] : [];
  });
}

function propertyName(name: ts.PropertyName): string {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name)) return name.text;
  throw new Error(`unexpected property name kind ${ts.SyntaxKind[name.kind]}`);
}

/** Reads every declaration of the package: definitions keyed `<module>.<Name>` (e.g. `core.v1.Container`), and the kinds. */
export function generateAll(): { version: string; kinds: Record<string, string>; definitions: Record<string, Schema> } {
  const root = packageRoot();
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const definitions: Record<string, Schema> = {};
  const kinds: Record<string, string> = {};
  for (const file of declarationFiles(root).sort()) {
    const moduleName = relative(root, file).replace(/\.d\.ts$/, '').split('\\').join('/');
    const prefix = moduleName.split('/').join('.');
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
    const imported = new Map<string, string>();
    for (const statement of source.statements) {
      if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
      const from = join(dirname(moduleName), statement.moduleSpecifier.text).split('\\').join('/');
      const bindings = statement.importClause?.namedBindings;
      if (bindings && ts.isNamedImports(bindings)) for (const el of bindings.elements) imported.set(el.name.text, `${from.split('/').join('.')}.${(el.propertyName ?? el.name).text}`);
    }
    const refName = (name: string) => imported.get(name) ?? `${prefix}.${name}`;
    const convert = (node: ts.TypeNode, where: string): Schema => {
      switch (node.kind) {
        case ts.SyntaxKind.StringKeyword:
          return { type: 'string' };
        case ts.SyntaxKind.NumberKeyword:
          return { type: 'number' };
        case ts.SyntaxKind.BooleanKeyword:
          return { type: 'boolean' };
      }
      if (ts.isLiteralTypeNode(node) && ts.isStringLiteral(node.literal)) return { type: 'string', const: node.literal.text };
      if (ts.isArrayTypeNode(node)) return { type: 'array', items: convert(node.elementType, where) };
      if (ts.isParenthesizedTypeNode(node)) return convert(node.type, where);
      if (ts.isTypeReferenceNode(node) && ts.isIdentifier(node.typeName)) {
        const name = node.typeName.text;
        if (name === 'Array' && node.typeArguments?.length === 1) return { type: 'array', items: convert(node.typeArguments[0]!, where) };
        return { $ref: `#/definitions/${refName(name)}` };
      }
      if (ts.isUnionTypeNode(node)) {
        const members = node.types.map((t) => convert(t, where));
        const primitive = members.every((m) => Object.keys(m).length === 1 && typeof m.type === 'string');
        return primitive ? { type: members.map((m) => m.type as string) } : { anyOf: members };
      }
      if (ts.isTypeLiteralNode(node)) return objectSchema(node.members, where);
      throw new Error(`${moduleName} ${where}: unsupported type ${ts.SyntaxKind[node.kind]}`);
    };
    const objectSchema = (members: ts.NodeArray<ts.TypeElement>, where: string): Schema => {
      const index = members.find(ts.isIndexSignatureDeclaration);
      if (index) {
        if (members.length !== 1) throw new Error(`${moduleName} ${where}: an index signature beside properties`);
        return { type: 'object', additionalProperties: convert(index.type, `${where}[]`) };
      }
      // An interface with no members is a free-form value in the API (runtime.RawExtension, meta/v1.FieldsV1, apiextensions JSON).
      if (members.length === 0) return {};
      const properties: Record<string, Schema> = {};
      const required: string[] = [];
      for (const member of members) {
        if (!ts.isPropertySignature(member) || !member.type) throw new Error(`${moduleName} ${where}: unsupported member ${ts.SyntaxKind[member.kind]}`);
        const name = propertyName(member.name);
        properties[name] = convert(member.type, `${where}.${name}`);
        if (!member.questionToken) required.push(name);
      }
      return { type: 'object', properties, ...(required.length > 0 ? { required } : {}), additionalProperties: false };
    };
    for (const statement of source.statements) {
      if (ts.isInterfaceDeclaration(statement)) {
        const key = `${prefix}.${statement.name.text}`;
        const schema = objectSchema(statement.members, statement.name.text);
        definitions[key] = schema;
        const props = schema.properties as Record<string, Schema> | undefined;
        const apiVersion = props?.apiVersion?.const;
        const kind = props?.kind?.const;
        if (typeof apiVersion === 'string' && typeof kind === 'string') kinds[`${apiVersion}/${kind}`] = key;
      } else if (ts.isTypeAliasDeclaration(statement)) {
        definitions[`${prefix}.${statement.name.text}`] = convert(statement.type, statement.name.text);
      }
    }
  }
  return { version, kinds, definitions };
}

function refsOf(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) for (const v of value) refsOf(v, into);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') into.add(v.replace('#/definitions/', ''));
      else refsOf(v, into);
    }
  }
}

/** The bundle for `kinds`: those kinds and every definition they reach, sorted. */
export function generateBundle(kinds: readonly string[] = KINDS): K8sSchemaBundle {
  const all = generateAll();
  const selected: Record<string, string> = {};
  const needed = new Set<string>();
  for (const k of kinds) {
    const key = all.kinds[k];
    if (!key) throw new Error(`${SOURCE_PACKAGE} ${all.version} has no kind ${k}`);
    selected[k] = key;
    needed.add(key);
  }
  const queue = [...needed];
  while (queue.length > 0) {
    const key = queue.pop()!;
    const schema = all.definitions[key];
    if (!schema) throw new Error(`${SOURCE_PACKAGE} ${all.version}: ${key} is referenced but not declared`);
    const refs = new Set<string>();
    refsOf(schema, refs);
    for (const r of refs) {
      if (needed.has(r)) continue;
      needed.add(r);
      queue.push(r);
    }
  }
  return {
    $comment: `Strict JSON Schemas (draft-07) of the Kubernetes 1.30 objects recc renders, generated by test/support/k8s-schema.ts from the npm package ${SOURCE_PACKAGE} ${all.version} (declarations generated from the Kubernetes 1.30 OpenAPI definitions). Do not edit: regenerate with npx tsx test/support/k8s-schema.ts --write.`,
    source: { package: SOURCE_PACKAGE, version: all.version },
    kinds: selected,
    definitions: Object.fromEntries([...needed].sort().map((k) => [k, all.definitions[k]!])),
  };
}

export function vendoredBundle(): K8sSchemaBundle {
  return JSON.parse(readFileSync(K8S_SCHEMA_FILE, 'utf8')) as K8sSchemaBundle;
}

/**
 * Validates Kubernetes objects as they go over the wire (JSON: `undefined`
 * dropped) against the vendored bundle. Every object must be of a vendored
 * kind, carry `apiVersion`, `kind` and `metadata.name`, and match its schema
 * with no unknown field at any depth.
 */
export class K8sSchemaValidator {
  private readonly ajv = new Ajv({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  readonly bundle: K8sSchemaBundle;

  constructor(bundle: K8sSchemaBundle = vendoredBundle()) {
    this.bundle = bundle;
    this.ajv.addSchema({ $id: 'k8s', definitions: bundle.definitions });
  }

  private validatorFor(apiVersion: string, kind: string): ValidateFunction | undefined {
    const id = `${apiVersion}/${kind}`;
    const cached = this.compiled.get(id);
    if (cached) return cached;
    const key = this.bundle.kinds[id];
    if (!key) return undefined;
    const fn = this.ajv.compile({
      allOf: [
        { $ref: `k8s#/definitions/${key}` },
        { type: 'object', required: ['apiVersion', 'kind', 'metadata'], properties: { metadata: { type: 'object', required: ['name'] } } },
      ],
    });
    this.compiled.set(id, fn);
    return fn;
  }

  /** Every problem as `<Kind> <namespace/name> <path>: <message>`; empty when every object is valid. */
  validate(objects: readonly unknown[]): string[] {
    const problems: string[] = [];
    for (const raw of objects) {
      const object = JSON.parse(JSON.stringify(raw)) as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
      const label = `${String(object.kind)} ${object.metadata?.namespace ? `${String(object.metadata.namespace)}/` : ''}${object.metadata?.name === undefined ? '(no name)' : String(object.metadata.name)}`;
      const validate = typeof object.apiVersion === 'string' && typeof object.kind === 'string' ? this.validatorFor(object.apiVersion, object.kind) : undefined;
      if (!validate) {
        problems.push(`${label}: no vendored schema for ${String(object.apiVersion)}/${String(object.kind)}; add it to KINDS in test/support/k8s-schema.ts and regenerate`);
        continue;
      }
      if (validate(object)) continue;
      for (const e of (validate.errors ?? []) as ErrorObject[]) {
        const extra = 'additionalProperty' in e.params ? ` "${String(e.params.additionalProperty)}"` : 'allowedValue' in e.params ? ` ${JSON.stringify(e.params.allowedValue)}` : '';
        problems.push(`${label} ${e.instancePath || '/'}: ${e.message ?? e.keyword}${extra}`);
      }
    }
    return problems;
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--write')) {
  const bundle = generateBundle();
  writeFileSync(K8S_SCHEMA_FILE, `${JSON.stringify(bundle, null, 2)}\n`);
  process.stdout.write(`wrote ${Object.keys(bundle.kinds).length} kinds, ${Object.keys(bundle.definitions).length} definitions to ${K8S_SCHEMA_FILE}\n`);
}
