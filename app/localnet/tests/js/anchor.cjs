// Stock @coral-xyz/anchor against a running localnet, as an outside developer
// drives the iomesh program from its checked-in IDL: an AnchorProvider over a
// Connection (with the PubSub URL as wsEndpoint), `.simulate()`, `.rpc()`
// (confirmed through signatureSubscribe), `program.account.market.fetch`,
// `addEventListener` (logsSubscribe) and failing `.rpc()` calls.
// Prints one JSON line per observation, `{"step": ..., ...}`; exits non-zero
// on any unexpected failure. Expects a fresh localnet (no market yet).
//
//   IDL_PATH=idl/iomesh.json RPC_URL=http://127.0.0.1:8899 WS_URL=ws://127.0.0.1:8900 node anchor.cjs
'use strict';
const fs = require('fs');
const anchor = require('@coral-xyz/anchor');
const { Connection, Keypair, LAMPORTS_PER_SOL, PublicKey, SendTransactionError } = require('@solana/web3.js');

const TIMEOUT_MS = 30000;

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms waiting for ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function emit(step, fields) {
  console.log(JSON.stringify({ step, ...fields }));
}

// Public keys as base58, BNs as decimal strings, recursively.
function plain(value) {
  if (value instanceof PublicKey) return value.toBase58();
  if (anchor.BN.isBN(value)) return value.toString();
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

// What the stock client hands back for a failing call, without judging it.
function describeError(err) {
  return {
    class: err && err.constructor ? err.constructor.name : typeof err,
    isAnchorError: err instanceof anchor.AnchorError,
    isProgramError: err instanceof anchor.ProgramError,
    isSendTransactionError: err instanceof SendTransactionError,
    anchorErrorCode: err && err.error && err.error.errorCode ? err.error.errorCode : null,
    programErrorCode: err instanceof anchor.ProgramError ? err.code : null,
    programErrorMsg: err instanceof anchor.ProgramError ? err.msg : null,
    message: err && err.message ? err.message : String(err),
    logs: err && Array.isArray(err.logs) ? err.logs : null,
    // web3.js's confirmTransaction rejects with the bare status error when its
    // getSignatureStatuses poll sees the failure first.
    raw: err instanceof Error ? null : err,
  };
}

async function expectRejection(what, call) {
  try {
    const signature = await within(call(), what);
    throw new Error(`${what} resolved (${signature}) but the program must refuse it`);
  } catch (err) {
    if (err && /^timed out/.test(err.message)) throw err;
    if (err && / resolved \(/.test(err.message)) throw err;
    return describeError(err);
  }
}

async function main() {
  const idl = JSON.parse(fs.readFileSync(process.env.IDL_PATH, 'utf8'));
  const connection = new Connection(process.env.RPC_URL, {
    commitment: 'confirmed',
    wsEndpoint: process.env.WS_URL,
  });
  const payer = Keypair.generate();
  const airdrop = await connection.requestAirdrop(payer.publicKey, 10 * LAMPORTS_PER_SOL);
  const latest = await connection.getLatestBlockhash();
  const airdropResult = await within(
    connection.confirmTransaction({ signature: airdrop, ...latest }, 'confirmed'),
    'the airdrop confirmation',
  );
  if (airdropResult.value.err) throw new Error(`airdrop failed: ${JSON.stringify(airdropResult.value.err)}`);
  emit('airdrop', { signature: airdrop, payer: payer.publicKey.toBase58() });

  const provider = new anchor.AnchorProvider(connection, new anchor.Wallet(payer), {
    commitment: 'confirmed',
    preflightCommitment: 'confirmed',
  });
  const program = new anchor.Program(idl, provider);
  const [marketPda] = PublicKey.findProgramAddressSync([Buffer.from('market')], program.programId);

  const params = {
    treasury: Keypair.generate().publicKey,
    schedulerAuthority: Keypair.generate().publicKey,
    priceAuthority: Keypair.generate().publicKey,
    rewardAuthority: Keypair.generate().publicKey,
    activationTimeoutSecs: 600,
    minLeaseSecs: 3600,
    maxLeaseSecs: 30 * 86400,
    failureGraceSecs: 300,
  };
  emit('sent', { programId: program.programId.toBase58(), marketPda: marketPda.toBase58(), params: plain(params) });

  // Anchor resolves `market` from the IDL's PDA seeds and `systemProgram`
  // from its fixed address; the caller names only the authority.
  const initialize = (p) => program.methods.initializeMarket(p).accounts({ authority: payer.publicKey });
  const resolved = await initialize(params).pubkeys();
  emit('resolved', { accounts: plain(resolved) });

  const simulated = await within(initialize(params).simulate(), '.simulate() of initializeMarket');
  emit('simulate', { events: plain(simulated.events), logs: simulated.raw });

  let listener;
  const eventSeen = new Promise((resolve) => {
    listener = program.addEventListener('marketInitialized', (event, slot, signature) =>
      resolve({ event: plain(event), slot, signature }),
    );
  });
  const signature = await within(initialize(params).rpc(), '.rpc() of initializeMarket');
  emit('rpc', { signature });

  const event = await within(eventSeen, 'the marketInitialized event');
  await program.removeEventListener(listener);
  emit('event', event);

  const tx = await connection.getTransaction(signature, { commitment: 'confirmed', maxSupportedTransactionVersion: 0 });
  if (!tx) throw new Error(`getTransaction(${signature}) found nothing after .rpc() confirmed it`);
  emit('transaction', { err: tx.meta.err, logs: tx.meta.logMessages });

  const market = await program.account.market.fetch(marketPda);
  emit('market', { market: plain(market) });

  // A second market at the same address: the program refuses an address in use.
  emit('rejected', {
    case: 'initializeMarket twice',
    error: await expectRejection('the second initializeMarket', () => initialize(params).rpc()),
  });
  // The same, sent without preflight: it lands, fails, and Anchor reads its logs.
  emit('rejected', {
    case: 'initializeMarket twice, skipPreflight',
    error: await expectRejection('the second initializeMarket without preflight', () =>
      initialize(params).rpc({ skipPreflight: true, commitment: 'confirmed' }),
    ),
  });
  // Out-of-range params are refused before the address is looked at.
  emit('rejected', {
    case: 'initializeMarket with minLeaseSecs > maxLeaseSecs',
    error: await expectRejection('initializeMarket with invalid params', () =>
      initialize({ ...params, minLeaseSecs: params.maxLeaseSecs + 1 }).rpc(),
    ),
  });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  },
);
