import * as arrow from 'apache-arrow';
import { Table } from 'apache-arrow';
import { ForeignTableError, TableAdopter, isMarkedArrowTable } from '../../comm/table-adopt.ts';
import { TableOptionsError } from '../../shared/tables/errors.ts';
import { dataFrameToArrow, isDataFrame, type DataFrame } from './engine.ts';

/** What writeTable accepts: an Arrow Table or a polars DataFrame. */
export type TableLike = Table | DataFrame;

/**
 * This module's Arrow Table for `t`. A Table of another apache-arrow copy
 * (a bundled task module, a result decoded by the client under a loader that
 * loads Arrow twice) passes `instanceof Table`, yet Arrow's IPC writer
 * writes it as an empty table, so it is rebuilt around the same buffers.
 */
export function toArrowTable(t: TableLike): Table {
  if (Function.prototype[Symbol.hasInstance].call(Table, t)) return t as Table;
  if (isMarkedArrowTable(t)) {
    try {
      return new TableAdopter(arrow).table(t);
    } catch (err) {
      if (!(err instanceof ForeignTableError)) throw err;
      throw new TableOptionsError(`expected an Apache Arrow Table: ${err.message}`, [{ path: `table.${err.path}`, message: err.message }]);
    }
  }
  if (isDataFrame(t)) return dataFrameToArrow(t);
  throw new TableOptionsError('expected an Apache Arrow Table or a polars DataFrame', [{ path: 'table', message: 'expected an Apache Arrow Table or a polars DataFrame' }]);
}
