import { Table } from 'apache-arrow';
import { TableOptionsError } from '../../shared/tables/errors.ts';
import { dataFrameToArrow, isDataFrame, type DataFrame } from './engine.ts';

/** What writeTable accepts: an Arrow Table or a polars DataFrame. */
export type TableLike = Table | DataFrame;

export function toArrowTable(t: TableLike): Table {
  if (t instanceof Table) return t;
  if (isDataFrame(t)) return dataFrameToArrow(t);
  throw new TableOptionsError('expected an Apache Arrow Table or a polars DataFrame', [{ path: 'table', message: 'expected an Apache Arrow Table or a polars DataFrame' }]);
}
