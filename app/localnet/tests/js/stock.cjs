// Stock @solana/web3.js (v1) against a running localnet, as a dapp uses it:
// sendAndConfirmTransaction of a SOL transfer (which waits on
// signatureSubscribe), connection.onAccountChange and connection.onLogs, and
// @solana/spl-token's helpers (each one a sendAndConfirmTransaction): a new
// mint, two associated token accounts, mintTo and a transfer.
// Prints one JSON line with what it saw; exits non-zero on any failure.
//
//   RPC_URL=http://127.0.0.1:8899 WS_URL=ws://127.0.0.1:8900 node stock.cjs
'use strict';
const {
  Connection,
  Keypair,
  LAMPORTS_PER_SOL,
  SystemProgram,
  Transaction,
  sendAndConfirmTransaction,
} = require('@solana/web3.js');
const {
  createMint,
  getAccount,
  getMint,
  getOrCreateAssociatedTokenAccount,
  mintTo,
  transfer: tokenTransfer,
} = require('@solana/spl-token');

const TIMEOUT_MS = 30000;

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const connection = new Connection(process.env.RPC_URL, {
    commitment: 'confirmed',
    wsEndpoint: process.env.WS_URL,
  });
  const payer = Keypair.generate();
  const target = Keypair.generate().publicKey;

  const airdrop = await connection.requestAirdrop(payer.publicKey, LAMPORTS_PER_SOL);
  const latest = await connection.getLatestBlockhash();
  const airdropResult = await within(
    connection.confirmTransaction({ signature: airdrop, ...latest }, 'confirmed'),
    'the airdrop confirmation',
  );
  if (airdropResult.value.err) throw new Error(`airdrop failed: ${JSON.stringify(airdropResult.value.err)}`);

  let accountListener;
  let logsListener;
  const accountSeen = new Promise((resolve) => {
    accountListener = connection.onAccountChange(
      target,
      (info, context) => resolve({ lamports: info.lamports, owner: info.owner.toBase58(), slot: context.slot }),
      { commitment: 'confirmed' },
    );
  });
  const logsSeen = new Promise((resolve) => {
    logsListener = connection.onLogs(
      target,
      (logs, context) => resolve({ signature: logs.signature, err: logs.err, logs: logs.logs, slot: context.slot }),
      'confirmed',
    );
  });

  const tx = new Transaction().add(
    SystemProgram.transfer({ fromPubkey: payer.publicKey, toPubkey: target, lamports: 1234567 }),
  );
  const transfer = await within(
    sendAndConfirmTransaction(connection, tx, [payer], { commitment: 'confirmed' }),
    'sendAndConfirmTransaction',
  );
  const account = await within(accountSeen, 'onAccountChange');
  const logs = await within(logsSeen, 'onLogs');
  await connection.removeAccountChangeListener(accountListener);
  await connection.removeOnLogsListener(logsListener);
  const token = await splToken(connection, payer);
  console.log(JSON.stringify({ airdrop, transfer, target: target.toBase58(), account, logs, token }));
}

// An SPL Token mint and transfer through @solana/spl-token's helpers, which
// confirm every step with sendAndConfirmTransaction.
async function splToken(connection, payer) {
  const confirmed = { commitment: 'confirmed' };
  const mintAuthority = Keypair.generate();
  const recipient = Keypair.generate().publicKey;
  const mint = await within(
    createMint(connection, payer, mintAuthority.publicKey, null, 6, undefined, confirmed),
    'createMint',
  );
  const ata = (owner) =>
    within(
      getOrCreateAssociatedTokenAccount(connection, payer, mint, owner, false, 'confirmed', confirmed),
      'getOrCreateAssociatedTokenAccount',
    );
  const from = await ata(payer.publicKey);
  const to = await ata(recipient);
  const minted = await within(
    mintTo(connection, payer, mint, from.address, mintAuthority, 5000000n, [], confirmed),
    'mintTo',
  );
  const transferred = await within(
    tokenTransfer(connection, payer, from.address, to.address, payer, 1250000n, [], confirmed),
    'the token transfer',
  );
  const balance = async (address) => (await getAccount(connection, address, 'confirmed')).amount.toString();
  const landed = await connection.getTransaction(transferred, {
    commitment: 'confirmed',
    maxSupportedTransactionVersion: 0,
  });
  return {
    mint: mint.toBase58(),
    minted,
    transferred,
    from: await balance(from.address),
    to: await balance(to.address),
    toOwner: (await getAccount(connection, to.address, 'confirmed')).owner.toBase58(),
    recipient: recipient.toBase58(),
    supply: (await getMint(connection, mint, 'confirmed')).supply.toString(),
    uiBalance: (await connection.getTokenAccountBalance(to.address, 'confirmed')).value.uiAmountString,
    transferErr: landed.meta.err,
    transferLogs: landed.meta.logMessages,
  };
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  },
);
