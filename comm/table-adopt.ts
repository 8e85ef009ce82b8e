import type { Data, DataType, Field, RecordBatch, Schema, Table, Vector } from 'apache-arrow';
import type { ArrowModule } from './table-codec.ts';

/**
 * Tables made by another copy of apache-arrow. A task module bundled by
 * `client.module()` carries its own Arrow, and so does a client run under a
 * loader that resolves Arrow twice. Arrow ≥ 17 marks its classes with
 * `Symbol.for('apache-arrow/Table')` so `instanceof` holds across copies, but
 * its IPC writer recognises column types by class, so `tableToIPC` of a
 * foreign table silently wrote the schema and no rows. Such a table is
 * rebuilt here around the same buffers (no copy) with this copy's classes,
 * checking every piece, so a forged object fails with a named problem
 * instead of crashing the writer or sending garbage.
 */

const TABLE_MARK = Symbol.for('apache-arrow/Table');

/** How deep nested types (list of struct of …) may go before the value is refused (also stops cycles). */
const MAX_DEPTH = 64;

/**
 * A Table of some apache-arrow copy: an instance of a class (never a plain
 * object, whatever keys it has) whose prototype chain carries Arrow's own
 * Table mark, with batches and a schema of fields.
 */
export function isMarkedArrowTable(v: unknown): boolean {
  // Arrays and byte views, most of what is asked (task arguments are an array), are never tables: answered
  // without the prototype walk, whose property-descriptor lookup cost a no-op task's client ~0.1 µs.
  if (v === null || typeof v !== 'object' || Array.isArray(v) || ArrayBuffer.isView(v)) return false;
  const proto = Object.getPrototypeOf(v) as object | null;
  if (proto === null || proto === Object.prototype) return false;
  let marked = false;
  for (let p: object | null = proto; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    const d = Object.getOwnPropertyDescriptor(p, TABLE_MARK);
    if (d && 'value' in d && d.value === true) {
      marked = true;
      break;
    }
  }
  if (!marked) return false;
  try {
    const t = v as { batches?: unknown; schema?: { fields?: unknown } };
    return Array.isArray(t.batches) && Array.isArray(t.schema?.fields);
  } catch {
    return false; // a throwing getter is no table
  }
}

/** A problem with a foreign table, with the path of the part (`schema.fields[2].type`). */
export class ForeignTableError extends Error {
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = 'ForeignTableError';
  }
}

type Any = Record<string | symbol, unknown>;

function obj(v: unknown, path: string, what: string): Any {
  if (v === null || typeof v !== 'object') throw new ForeignTableError(path, `expected ${what}, got ${v === null ? 'null' : typeof v}`);
  return v as Any;
}

function int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v === 'bigint' && v >= BigInt(min) && v <= BigInt(max)) return Number(v);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ForeignTableError(path, `expected an integer in ${min}..${max}, got ${String(v)}`);
  return v;
}

function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new ForeignTableError(path, 'expected an array');
  return v;
}

function buffer(v: unknown, path: string): ArrayBufferView | undefined {
  if (v === undefined || v === null) return undefined;
  if (!ArrayBuffer.isView(v) || v instanceof DataView) throw new ForeignTableError(path, 'expected a typed array');
  return v;
}

export class TableAdopter {
  private readonly types = new Map<unknown, DataType>();

  constructor(private readonly arrow: ArrowModule) {}

  /** This copy's Table over the same buffers as `t`, a table of another Arrow copy (see isMarkedArrowTable). */
  table(t: unknown): Table {
    const src = obj(t, 'table', 'a table');
    const schema = this.schema(src.schema, 'schema');
    const batches = arr(src.batches, 'batches').map((b, i) => this.batch(b, schema, `batches[${i}]`));
    return new this.arrow.Table(schema, batches);
  }

  private schema(s: unknown, path: string): Schema {
    const src = obj(s, path, 'a schema');
    const fields = arr(src.fields, `${path}.fields`).map((f, i) => this.field(f, `${path}.fields[${i}]`, 1));
    return new this.arrow.Schema(fields, this.metadata(src.metadata, `${path}.metadata`));
  }

  private metadata(m: unknown, path: string): Map<string, string> | undefined {
    if (m === undefined || m === null) return undefined;
    if (!(m instanceof Map)) throw new ForeignTableError(path, 'expected a Map');
    for (const [k, v] of m) if (typeof k !== 'string' || typeof v !== 'string') throw new ForeignTableError(path, 'expected string keys and values');
    return new Map(m as Map<string, string>);
  }

  private field(f: unknown, path: string, depth: number): Field {
    const src = obj(f, path, 'a field');
    if (typeof src.name !== 'string') throw new ForeignTableError(`${path}.name`, 'expected a string');
    return new this.arrow.Field(src.name, this.type(src.type, `${path}.type`, depth), src.nullable === true, this.metadata(src.metadata, `${path}.metadata`));
  }

  private type(t: unknown, path: string, depth: number): DataType {
    if (depth > MAX_DEPTH) throw new ForeignTableError(path, `types nested deeper than ${MAX_DEPTH}`);
    const known = this.types.get(t);
    if (known) return known;
    const a = this.arrow;
    const T = a.Type;
    const src = obj(t, path, 'an Arrow type');
    const children = (): Field[] => arr(src.children, `${path}.children`).map((c, i) => this.field(c, `${path}.children[${i}]`, depth + 1));
    const child = (): Field => {
      const list = children();
      if (list.length !== 1) throw new ForeignTableError(`${path}.children`, `expected one child, got ${list.length}`);
      return list[0] as Field;
    };
    const unit = (max: number) => int(src.unit, `${path}.unit`, 0, max);
    let out: DataType;
    switch (src.typeId) {
      case T.Null: out = new a.Null(); break;
      case T.Int: {
        const bits = int(src.bitWidth, `${path}.bitWidth`, 8, 64);
        if (![8, 16, 32, 64].includes(bits)) throw new ForeignTableError(`${path}.bitWidth`, `expected 8, 16, 32 or 64, got ${bits}`);
        out = new a.Int(src.isSigned === true, bits as 8 | 16 | 32 | 64);
        break;
      }
      case T.Float: out = new a.Float(int(src.precision, `${path}.precision`, 0, 2)); break;
      case T.Binary: out = new a.Binary(); break;
      case T.Utf8: out = new a.Utf8(); break;
      case T.LargeBinary: out = new a.LargeBinary(); break;
      case T.LargeUtf8: out = new a.LargeUtf8(); break;
      case T.Bool: out = new a.Bool(); break;
      case T.Decimal: out = new a.Decimal(int(src.scale, `${path}.scale`, 0, 76), int(src.precision, `${path}.precision`, 1, 76), int(src.bitWidth, `${path}.bitWidth`, 32, 256)); break;
      case T.Date: out = new a.Date_(unit(1)); break;
      case T.Time: out = new a.Time(unit(3), int(src.bitWidth, `${path}.bitWidth`, 32, 64) as 32 | 64); break;
      case T.Timestamp: {
        const tz = src.timezone;
        if (tz !== null && tz !== undefined && typeof tz !== 'string') throw new ForeignTableError(`${path}.timezone`, 'expected a string or null');
        out = new a.Timestamp(unit(3), (tz as string | null | undefined) ?? null);
        break;
      }
      case T.Interval: out = new a.Interval(unit(2)); break;
      case T.Duration: out = new a.Duration(unit(3)); break;
      case T.FixedSizeBinary: out = new a.FixedSizeBinary(int(src.byteWidth, `${path}.byteWidth`, 0, 2 ** 31 - 1)); break;
      case T.List: out = new a.List(child()); break;
      case T.LargeList: out = new a.LargeList(child()); break;
      case T.FixedSizeList: out = new a.FixedSizeList(int(src.listSize, `${path}.listSize`, 0, 2 ** 31 - 1), child()); break;
      case T.Struct: out = new a.Struct(children()); break;
      case T.Map: out = new a.Map_(child() as Field<never>, src.keysSorted === true); break;
      case T.Union: {
        const ids = buffer(src.typeIds, `${path}.typeIds`) ?? arr(src.typeIds, `${path}.typeIds`);
        const typeIds = Array.from(ids as ArrayLike<unknown>, (x, i) => int(x, `${path}.typeIds[${i}]`, 0, 127));
        const mode = int(src.mode, `${path}.mode`, 0, 1);
        out = mode === a.UnionMode.Dense ? new a.DenseUnion(typeIds, children()) : new a.SparseUnion(typeIds, children());
        break;
      }
      case T.Dictionary: {
        const indices = this.type(src.indices, `${path}.indices`, depth + 1);
        if (indices.typeId !== T.Int) throw new ForeignTableError(`${path}.indices`, 'expected an integer type');
        out = new a.Dictionary(this.type(src.dictionary, `${path}.dictionary`, depth + 1), indices as never, int(src.id, `${path}.id`, -(2 ** 31), 2 ** 31 - 1), src.isOrdered === true);
        break;
      }
      default:
        throw new ForeignTableError(`${path}.typeId`, `Arrow type ${String(src.typeId)} (${String(t)}) cannot be sent from another apache-arrow copy`);
    }
    this.types.set(t, out);
    return out;
  }

  private batch(b: unknown, schema: Schema, path: string): RecordBatch {
    const src = obj(b, path, 'a record batch');
    const data = this.data(src.data, new this.arrow.Struct(schema.fields), `${path}.data`, 1);
    return new this.arrow.RecordBatch(schema, data as Data<never>);
  }

  /** The same buffers under `type` (this copy's version of the foreign data's type). */
  private data(d: unknown, type: DataType, path: string, depth: number): Data {
    if (depth > MAX_DEPTH) throw new ForeignTableError(path, `data nested deeper than ${MAX_DEPTH}`);
    const src = obj(d, path, 'Arrow data');
    const length = int(src.length, `${path}.length`, 0, 2 ** 31 - 1);
    const offset = int(src.offset, `${path}.offset`, 0, 2 ** 31 - 1);
    const nullCount = int(src.nullCount, `${path}.nullCount`, -1, length);
    const childTypes = type.typeId === this.arrow.Type.Dictionary ? [] : (type.children ?? []).map((f) => f.type as DataType);
    const srcChildren = arr(src.children ?? [], `${path}.children`);
    if (srcChildren.length !== childTypes.length) throw new ForeignTableError(`${path}.children`, `expected ${childTypes.length} children for ${String(type)}, got ${srcChildren.length}`);
    const children = srcChildren.map((c, i) => this.data(c, childTypes[i] as DataType, `${path}.children[${i}]`, depth + 1));
    let dictionary: Vector | undefined;
    if (type.typeId === this.arrow.Type.Dictionary) {
      const dict = obj(src.dictionary, `${path}.dictionary`, 'a dictionary vector');
      const valueType = (type as unknown as { dictionary: DataType }).dictionary;
      dictionary = new this.arrow.Vector(arr(dict.data, `${path}.dictionary.data`).map((x, i) => this.data(x, valueType, `${path}.dictionary.data[${i}]`, depth + 1)));
    }
    const buffers = [
      buffer(src.valueOffsets, `${path}.valueOffsets`),
      buffer(src.values, `${path}.values`),
      buffer(src.nullBitmap, `${path}.nullBitmap`),
      buffer(src.typeIds, `${path}.typeIds`),
    ];
    const variadic = arr(src.variadicBuffers ?? [], `${path}.variadicBuffers`).map((x, i) => buffer(x, `${path}.variadicBuffers[${i}]`) as Uint8Array);
    const out = new this.arrow.Data(type, offset, length, nullCount, buffers as never, children, dictionary as never, variadic);
    this.checkSizes(out, path);
    return out;
  }

  /**
   * Buffers long enough for the values, so the writer never reads past them.
   * A sliced Data keeps its offset for the bitmaps (bit positions) but its
   * value and offset buffers already start at the slice.
   */
  private checkSizes(d: Data, path: string): void {
    const T = this.arrow.Type;
    const n = d.length;
    const bits = Math.ceil((d.offset + n) / 8);
    const short = (name: string, need: number, have: number) => {
      if (have < need) throw new ForeignTableError(`${path}.${name}`, `holds ${have} bytes, ${need} needed for ${n} values at offset ${d.offset}`);
    };
    if (n === 0) return;
    if (d.nullBitmap && d.nullBitmap.byteLength > 0) short('nullBitmap', bits, d.nullBitmap.byteLength);
    const id = d.type.typeId;
    if (id === T.Utf8 || id === T.Binary || id === T.List || id === T.Map || id === T.LargeUtf8 || id === T.LargeBinary || id === T.LargeList) {
      const wide = id === T.LargeUtf8 || id === T.LargeBinary || id === T.LargeList ? 8 : 4;
      short('valueOffsets', (n + 1) * wide, d.valueOffsets?.byteLength ?? 0);
    } else if (id === T.Bool) {
      short('values', bits, d.values?.byteLength ?? 0);
    } else if (id === T.Int || id === T.Float || id === T.Date || id === T.Time || id === T.Timestamp || id === T.Decimal || id === T.Interval || id === T.Duration || id === T.FixedSizeBinary || id === T.Dictionary) {
      const arrayType = id === T.Dictionary ? (d.type as unknown as { indices: DataType }).indices.ArrayType : d.type.ArrayType;
      const per = (arrayType as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      short('values', n * (id === T.Dictionary ? 1 : d.stride) * per, d.values?.byteLength ?? 0);
    }
  }

}
