/**
 * The typed wire protocol (see comm/protocol/messages.ts for the tables and
 * the versioning note, comm/protocol/channel.ts for the boundary).
 */
export * from './protocol/messages.ts';
export { Channel, type ChannelOptions } from './protocol/channel.ts';
export type { Issue } from './protocol/check.ts';
