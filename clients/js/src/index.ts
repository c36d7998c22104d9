// The iomesh program's TypeScript client: everything Codama generates from
// the checked-in IDL (accounts, instructions, errors, PDAs, on @solana/kit),
// and the lease helpers the IDL cannot describe.
export * from './generated/index';
export * from './leases';
