export * from './address.ts';
export * from './comm.ts';
export * from './errors.ts';
export * from './framing.ts';
export * from './handshake.ts';
export * from './data-client.ts';
export * from './payload.ts';
export * from './admission.ts';
