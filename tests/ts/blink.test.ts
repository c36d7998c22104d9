// The Actions as a Blink client executes them: Dialect's blinks-core (the
// library Blink renderers are built on) unfurls the node page's URL through
// actions.json, checks the Action's version and chain against what its
// wallet adapter supports, fills the form the GET describes, posts the
// renter's account and gets the transaction, which the renter signs and
// sends; then the lease's extend Action (one input) and cancel Action (a
// button) the same way. Balances exact to the base unit.
//
// Run by `./scripts/test` (tests/tests/web/actions.rs starts the localnet
// and iomesh-web); by hand:
//   WEB_URL=… RPC_URL=… RENTER_KEYPAIR=path.json NODE=… MINT=… \
//   node --import tsx --test tests/ts/blink.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Action,
  ButtonActionComponent,
  FormActionComponent,
  SingleValueActionComponent,
  setProxyUrl,
  unfurlUrlToBlinkApiUrl,
  type ActionAdapter,
} from '@dialectlabs/blinks-core';
import {
  address,
  createSolanaRpc,
  getBase64EncodedWireTransaction,
  getBase64Encoder,
  getTransactionDecoder,
  signTransaction,
  type KeyPairSigner,
  type Signature,
} from '@solana/kit';
import { fetchToken, findAssociatedTokenPda, TOKEN_PROGRAM_ADDRESS } from '@solana-program/token';
import { fetchLease } from '../../clients/js/src/index';
import { env, keypairFile, until } from './wallet';

const rpc = createSolanaRpc(env('RPC_URL'));
const web = env('WEB_URL');
const node = address(env('NODE'));
const TOKEN = 1_000_000n;
const SPEC = JSON.stringify({ command: ['python', 'train.py'] });

/** What a Blink client does with a POST's answer: the wallet signs and sends it. */
async function signAndSend(signer: KeyPairSigner, transaction: string) {
  const unsigned = getTransactionDecoder().decode(getBase64Encoder().encode(transaction));
  assert.deepEqual(Object.keys(unsigned.signatures), [signer.address], 'the account is the only signer');
  const signed = await signTransaction([signer.keyPair], unsigned);
  const signature: Signature = await rpc
    .sendTransaction(getBase64EncodedWireTransaction(signed), { encoding: 'base64', preflightCommitment: 'confirmed' })
    .send();
  await until(`${signature} confirmed`, async () => {
    const { value } = await rpc.getSignatureStatuses([signature]).send();
    if (value[0]?.err) throw new Error(`the transaction failed: ${JSON.stringify(value[0].err)}`);
    return value[0]?.confirmationStatus === 'confirmed' || value[0]?.confirmationStatus === 'finalized';
  });
}

/** A Blink from a page URL, as a client unfurls it (no Dialect proxy: loopback only). */
async function blinkOf(pageUrl: string) {
  const apiUrl = await unfurlUrlToBlinkApiUrl(pageUrl);
  assert.ok(apiUrl, `actions.json maps ${pageUrl}`);
  return Action.fetch(apiUrl);
}

test('a Blink client renders and executes the rent, extend and cancel Actions', async () => {
  setProxyUrl('');
  const renter = await keypairFile(env('RENTER_KEYPAIR'));
  const [ata] = await findAssociatedTokenPda({ owner: renter.address, mint: address(env('MINT')), tokenProgram: TOKEN_PROGRAM_ADDRESS });
  const balance = async () => (await fetchToken(rpc, ata, { commitment: 'confirmed' })).data.amount;
  const start = await balance();
  const genesis = await rpc.getGenesisHash().send();
  const adapter = (chains: string[]): ActionAdapter => ({
    metadata: { supportedBlockchainIds: chains },
    connect: async () => renter.address,
    signTransaction: async () => ({ error: 'not used: the test signs' }),
    confirmTransaction: async () => {},
    signMessage: async () => ({ error: 'not used' }),
  });

  // Rent: the node page's URL unfurled, the Action supported on this chain only.
  const rent = await blinkOf(`${web}/nodes/${node}/rent`);
  assert.equal(rent.title, '4 × RTX 4090 (24 GiB) in eu-west');
  assert.equal(rent.disabled, false);
  assert.deepEqual(rent.metadata.blockchainIds, [`solana:${genesis.slice(0, 32)}`]);
  assert.deepEqual(await rent.isSupported(adapter(rent.metadata.blockchainIds!)), { isSupported: true });
  const elsewhere = await rent.isSupported(adapter(['solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp']));
  assert.equal(elsewhere.isSupported, false, 'a wallet on mainnet is told it cannot run it');
  assert.equal(rent.actions.length, 1);
  const form = rent.actions[0];
  assert.ok(form instanceof FormActionComponent);
  assert.deepEqual(form.parameters.map((p) => p.name), ['hours', 'gpus', 'mint', 'job_spec']);
  const mints = form.parameters[2];
  assert.ok('options' in mints && mints.options?.length === 1);
  form.setValue('1', 'hours');
  form.setValue('2', 'gpus');
  form.setValue(mints.options![0].value, 'mint');
  form.setValue(SPEC, 'job_spec');
  const rented = await form.post(renter.address);
  assert.equal(rented.type, 'transaction');
  await signAndSend(renter, (rented as { transaction: string }).transaction);
  const lease = address(rented.message!.match(/^Lease (\w+):/)![1]);
  assert.equal((await fetchLease(rpc, lease, { commitment: 'confirmed' })).data.deposited, 4n * TOKEN);
  assert.equal(await balance(), start - 4n * TOKEN);

  // Extend by two hours: one number input.
  const extend = await blinkOf(`${web}/leases/${lease}/extend`);
  const more = extend.actions[0];
  assert.ok(more instanceof SingleValueActionComponent);
  assert.equal(more.parameter.name, 'hours');
  more.setValue('2');
  const extended = await more.post(renter.address);
  await signAndSend(renter, (extended as { transaction: string }).transaction);
  const after = (await fetchLease(rpc, lease, { commitment: 'confirmed' })).data;
  assert.equal(after.durationSecs, 3 * 3_600);
  assert.equal(after.deposited, 12n * TOKEN);
  assert.equal(await balance(), start - 12n * TOKEN);

  // Cancel: a button; the lease never started, so everything comes back.
  const cancel = await blinkOf(`${web}/leases/${lease}/cancel`);
  const button = cancel.actions[0];
  assert.ok(button instanceof ButtonActionComponent);
  // A refusal reaches the client as the Action's message, which it shows.
  const stranger = '11111111111111111111111111111112';
  await assert.rejects(button.post(stranger), {
    message: `account ${stranger} is not the renter of lease ${lease}: only its renter may cancel it`,
  });
  const cancelled = await button.post(renter.address);
  await signAndSend(renter, (cancelled as { transaction: string }).transaction);
  assert.equal((await rpc.getAccountInfo(lease, { commitment: 'confirmed' }).send()).value, null);
  assert.equal(await balance(), start);

});
