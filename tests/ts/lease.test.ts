// The program driven from TypeScript as an outside developer would: the
// Codama client (clients/js) on @solana/kit over a running localnet,
// confirmed through PubSub. A supplier registers a node, a renter rents two
// of its GPUs, the operator activates the lease, the renter cancels it; every
// token balance is checked to the base unit.
//
// Run by `./scripts/test` (tests/tests/web/typescript.rs starts the localnet
// and its market) or by hand:
//   RPC_URL=… WS_URL=… AUTHORITY_KEYPAIR=path.json MINT=… TREASURY=… npm test
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  address,
  airdropFactory,
  appendTransactionMessageInstructions,
  createKeyPairSignerFromBytes,
  createSolanaRpc,
  createSolanaRpcSubscriptions,
  createTransactionMessage,
  generateKeyPairSigner,
  getSignatureFromTransaction,
  lamports,
  pipe,
  sendAndConfirmTransactionFactory,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
  type Address,
  type Instruction,
  type TransactionSigner,
} from '@solana/kit';
import {
  findAssociatedTokenPda,
  getCreateAssociatedTokenIdempotentInstructionAsync,
  getMintToInstruction,
  fetchToken,
  TOKEN_PROGRAM_ADDRESS,
} from '@solana-program/token';
import {
  fetchLease,
  fetchNode,
  findCreditPda,
  findNodePda,
  findVaultPda,
  getActivateLeaseInstructionAsync,
  getCancelLeaseInstructionAsync,
  getCreateLeaseInstructionAsync,
  getRegisterNodeInstructionAsync,
  findLeasePda,
  leaseEndedEvents,
  LeaseEndReason,
  LeaseStatus,
} from '../../clients/js/src/index';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see the header of this file)`);
  return value;
};

const rpc = createSolanaRpc(env('RPC_URL'));
const rpcSubscriptions = createSolanaRpcSubscriptions(env('WS_URL'));
const sendAndConfirm = sendAndConfirmTransactionFactory({ rpc, rpcSubscriptions });
const airdrop = airdropFactory({ rpc, rpcSubscriptions });
const mint = address(env('MINT'));
const treasury = address(env('TREASURY'));
const SOL = 1_000_000_000n;
const TOKEN = 1_000_000n; // the market's USDC has 6 decimals

async function send(feePayer: TransactionSigner, instructions: Instruction[]) {
  const { value: blockhash } = await rpc.getLatestBlockhash({ commitment: 'confirmed' }).send();
  const message = pipe(
    createTransactionMessage({ version: 'legacy' }),
    (m) => setTransactionMessageFeePayerSigner(feePayer, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash(blockhash, m),
    (m) => appendTransactionMessageInstructions(instructions, m),
  );
  const signed = await signTransactionMessageWithSigners(message);
  await sendAndConfirm(signed as Parameters<typeof sendAndConfirm>[0], { commitment: 'confirmed' });
  return getSignatureFromTransaction(signed);
}

async function wallet() {
  const signer = await generateKeyPairSigner();
  await airdrop({ recipientAddress: signer.address, lamports: lamports(10n * SOL), commitment: 'confirmed' });
  return signer;
}

async function ata(owner: Address) {
  const [account] = await findAssociatedTokenPda({ owner, mint, tokenProgram: TOKEN_PROGRAM_ADDRESS });
  return account;
}

async function balance(account: Address) {
  return (await fetchToken(rpc, account, { commitment: 'confirmed' })).data.amount;
}

test('register, rent, activate and cancel, with exact balances', async () => {
  const authority = await createKeyPairSignerFromBytes(
    new Uint8Array(JSON.parse(readFileSync(env('AUTHORITY_KEYPAIR'), 'utf8'))),
  );
  const [owner, operator, renter] = await Promise.all([wallet(), wallet(), wallet()]);

  // The supplier lists 4 GPUs at $2 per GPU-hour.
  await send(owner, [
    await getRegisterNodeInstructionAsync({
      owner,
      operator,
      spec: {
        gpuModel: 'RTX 4090',
        gpuCount: 4,
        vramMib: 24_576,
        region: 'eu-west',
        priceUsdMicrosPerGpuHour: 2_000_000n,
        minLeaseSecs: 60,
        maxLeaseSecs: 86_400,
      },
    }),
  ]);
  const [node] = await findNodePda({ operator: operator.address });
  const listed = await fetchNode(rpc, node, { commitment: 'confirmed' });
  assert.equal(listed.data.gpuCount, 4);
  assert.equal(listed.data.owner, owner.address);

  // Token accounts: the supplier's payouts, the renter's 10 USDC.
  const [ownerAta, renterAta, treasuryAta] = await Promise.all([ata(owner.address), ata(renter.address), ata(treasury)]);
  await send(authority, [
    await getCreateAssociatedTokenIdempotentInstructionAsync({ payer: authority, owner: owner.address, mint }),
    await getCreateAssociatedTokenIdempotentInstructionAsync({ payer: authority, owner: renter.address, mint }),
    getMintToInstruction({ mint, token: renterAta, mintAuthority: authority, amount: 10n * TOKEN }),
  ]);
  const [vault] = await findVaultPda({ mint });
  const vaultBefore = await balance(vault);
  const treasuryBefore = await balance(treasuryAta);

  // Rent 2 GPUs for 1 hour: 2 × $2 = 4 USDC into escrow, price locked at 2 USDC.
  const nonce = 7n;
  const [lease] = await findLeasePda(renter.address, nonce);
  await send(renter, [
    await getCreateLeaseInstructionAsync({
      mint,
      vault,
      node,
      lease,
      payerTokenAccount: renterAta,
      renter,
      payer: renter,
      nonce,
      gpus: 2,
      durationSecs: 3_600,
      maxPricePerGpuHour: 2n * TOKEN,
      jobSpecHash: new Uint8Array(32).fill(1),
    }),
  ]);
  assert.equal(await balance(renterAta), 6n * TOKEN);
  assert.equal((await balance(vault)) - vaultBefore, 4n * TOKEN);
  const pending = await fetchLease(rpc, lease, { commitment: 'confirmed' });
  assert.equal(pending.data.status, LeaseStatus.Pending);
  assert.equal(pending.data.deposited, 4n * TOKEN);
  assert.equal(pending.data.ratePerGpuHour, 2n * TOKEN);
  assert.equal((await fetchNode(rpc, node, { commitment: 'confirmed' })).data.gpusInUse, 2);

  // The operator activates it: billing starts.
  await send(operator, [await getActivateLeaseInstructionAsync({ lease, operator })]);
  const active = await fetchLease(rpc, lease, { commitment: 'confirmed' });
  assert.equal(active.data.status, LeaseStatus.Active);
  assert.ok(active.data.activatedAt > 0n);

  // The renter cancels: service so far to the supplier (less the network
  // fee), the rest back to the renter, the escrow empty again.
  const [supplierCredit] = await findCreditPda({ vault, owner: owner.address });
  const signature = await send(renter, [
    await getCancelLeaseInstructionAsync({
      lease,
      node,
      mint,
      supplierTokenAccount: ownerAta,
      treasuryTokenAccount: treasuryAta,
      payerTokenAccount: renterAta,
      supplierCredit,
      payer: renter.address,
      renter,
    }),
  ]);
  const tx = await rpc
    .getTransaction(signature, { commitment: 'confirmed', maxSupportedTransactionVersion: 0, encoding: 'json' })
    .send();
  const [ended] = leaseEndedEvents(tx?.meta?.logMessages ?? []);
  assert.ok(ended, 'the cancel logs LeaseEnded');
  assert.equal(ended.lease, lease);
  assert.equal(ended.reason, LeaseEndReason.Cancelled);
  // The program's rounding: accrued service rounded down, the fee (2 %) rounded down.
  const billedSecs = ended.billedUntil - active.data.activatedAt;
  assert.ok(billedSecs >= 0n && billedSecs < 3_600n, `billed ${billedSecs} s`);
  const paid = (2n * TOKEN * 2n * billedSecs) / 3_600n;
  const fee = (paid * BigInt(active.data.feeBps)) / 10_000n;
  assert.equal(ended.paidOut, paid);
  assert.equal(ended.refunded, 4n * TOKEN - paid);
  assert.equal(await balance(ownerAta), paid - fee);
  assert.equal((await balance(treasuryAta)) - treasuryBefore, fee);
  assert.equal(await balance(renterAta), 6n * TOKEN + (4n * TOKEN - paid));
  assert.equal(await balance(vault), vaultBefore);
  // The lease account is closed and the node's GPUs free again.
  assert.equal((await rpc.getAccountInfo(lease, { commitment: 'confirmed' }).send()).value, null);
  assert.equal((await fetchNode(rpc, node, { commitment: 'confirmed' })).data.gpusInUse, 0);
});
