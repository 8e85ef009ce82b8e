/** The pure part of recc's table layer: formats, where, schema comparison, partition paths, manifest, pruning. */
export * from './errors.ts';
export * from './formats.ts';
export * from './schema.ts';
export * from './where.ts';
export * from './partition-path.ts';
export * from './manifest.ts';
export * from './prune.ts';
