// What the IDL cannot tell Codama: the lease and cluster addresses (their
// seeds include an instruction argument, the nonce) and the LeaseEnded event
// the program logs when a lease ends (`Program data:` lines), with the amounts
// it paid out and refunded.
import {
  getAddressDecoder,
  getAddressEncoder,
  getBase64Encoder,
  getI64Decoder,
  getProgramDerivedAddress,
  getStructDecoder,
  getU64Decoder,
  getU64Encoder,
  type Address,
  type ProgramDerivedAddress,
} from '@solana/kit';
import { getLeaseEndReasonDecoder, type LeaseEndReason } from './generated/types/leaseEndReason';
import { IOMESH_PROGRAM_ADDRESS } from './generated/programs/iomesh';

const utf8 = (text: string) => new TextEncoder().encode(text);

/** `["lease", renter, nonce]`. */
export async function findLeasePda(renter: Address, nonce: bigint): Promise<ProgramDerivedAddress> {
  return getProgramDerivedAddress({
    programAddress: IOMESH_PROGRAM_ADDRESS,
    seeds: [utf8('lease'), getAddressEncoder().encode(renter), getU64Encoder().encode(nonce)],
  });
}

/** `["cluster", renter, nonce]`. */
export async function findClusterPda(renter: Address, nonce: bigint): Promise<ProgramDerivedAddress> {
  return getProgramDerivedAddress({
    programAddress: IOMESH_PROGRAM_ADDRESS,
    seeds: [utf8('cluster'), getAddressEncoder().encode(renter), getU64Encoder().encode(nonce)],
  });
}

export type LeaseEnded = {
  lease: Address;
  node: Address;
  reason: LeaseEndReason;
  /** Base units paid out over the lease's life (supplier + fee). */
  paidOut: bigint;
  /** Base units returned to the payer. */
  refunded: bigint;
  /** Unix seconds up to which service was paid; 0 if never activated. */
  billedUntil: bigint;
};

/** The IDL's discriminator of LeaseEnded. */
const LEASE_ENDED = new Uint8Array([72, 213, 85, 72, 232, 231, 130, 177]);

const leaseEndedDecoder = getStructDecoder([
  ['lease', getAddressDecoder()],
  ['node', getAddressDecoder()],
  ['reason', getLeaseEndReasonDecoder()],
  ['paidOut', getU64Decoder()],
  ['refunded', getU64Decoder()],
  ['billedUntil', getI64Decoder()],
]);

/** Every LeaseEnded event in a transaction's log messages. */
export function leaseEndedEvents(logMessages: readonly string[]): LeaseEnded[] {
  const events: LeaseEnded[] = [];
  for (const line of logMessages) {
    const data = line.startsWith('Program data: ') ? line.slice('Program data: '.length) : null;
    if (data === null) continue;
    const bytes = getBase64Encoder().encode(data);
    if (bytes.length < 8 || !LEASE_ENDED.every((b, i) => bytes[i] === b)) continue;
    events.push(leaseEndedDecoder.decode(bytes.slice(8)) as LeaseEnded);
  }
  return events;
}
