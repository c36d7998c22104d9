// A renter in a real browser (Chromium through Playwright) on iomesh-web
// over a localnet: search, filter and sort, open a node, connect a wallet
// through the Wallet Standard and rent two GPUs through the node's Solana
// Action (the transaction lands with the exact escrow), then find the lease
// on the renter's page and cancel it through its Action (the whole deposit
// comes back, and the page shows the ending). The wallet is a test
// wallet registered the way wallet extensions register: its signing happens
// in this process with the renter's key. Screenshots of each page go to
// $SCREENSHOTS.
//
// Run by `./scripts/test` (tests/tests/web/browser.rs starts the localnet,
// the indexer and iomesh-web); by hand:
//   WEB_URL=… RPC_URL=… RENTER_KEYPAIR=path.json NODE=… MINT=… CHROMIUM=/usr/bin/chromium \
//   SCREENSHOTS=dir node --import tsx --test tests/ts/browser.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import {
  address,
  createKeyPairSignerFromBytes,
  createSolanaRpc,
  getAddressEncoder,
  getBase58Encoder,
  getBase64EncodedWireTransaction,
  getBase64Encoder,
  getTransactionDecoder,
  signTransaction,
  type Signature,
} from '@solana/kit';
import { fetchToken, findAssociatedTokenPda, TOKEN_PROGRAM_ADDRESS } from '@solana-program/token';
import { fetchLease, LeaseStatus } from '../../clients/js/src/index';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see the header of this file)`);
  return value;
};

const rpc = createSolanaRpc(env('RPC_URL'));
const web = env('WEB_URL');
const node = address(env('NODE'));
const TOKEN = 1_000_000n;

/** Runs in the page before its scripts: a Wallet Standard wallet whose
 * signAndSendTransaction is the test process's `iomeshTestWalletSend`,
 * registered the way wallet extensions register. Plain JavaScript in a
 * string: a function compiled by tsx would carry helpers the page lacks. */
function testWalletScript(address: string, publicKey: number[]) {
  return `(() => {
    const chains = ['solana:localnet'];
    const account = {
      address: ${JSON.stringify(address)},
      publicKey: new Uint8Array(${JSON.stringify(publicKey)}),
      chains,
      features: ['solana:signAndSendTransaction'],
    };
    const wallet = {
      version: '1.0.0',
      name: 'iomesh test wallet',
      icon: 'data:image/svg+xml;base64,PHN2ZyB4bWxucz0naHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmcnLz4=',
      chains,
      accounts: [account],
      features: {
        'standard:connect': { version: '1.0.0', connect: async () => ({ accounts: [account] }) },
        'standard:events': { version: '1.0.0', on: () => () => {} },
        'solana:signAndSendTransaction': {
          version: '1.0.0',
          supportedTransactionVersions: ['legacy', 0],
          signAndSendTransaction: async (...inputs) => Promise.all(inputs.map(async ({ transaction }) => ({
            signature: new Uint8Array(await window.iomeshTestWalletSend(btoa(String.fromCharCode(...transaction)))),
          }))),
        },
      },
    };
    const callback = ({ register }) => register(wallet);
    window.dispatchEvent(new CustomEvent('wallet-standard:register-wallet', { detail: callback }));
    window.addEventListener('wallet-standard:app-ready', (event) => callback(event.detail));
  })();`;
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(env('SCREENSHOTS'), `${name}.png`), fullPage: true });
}

async function until(what: string, check: () => Promise<boolean>) {
  for (let i = 0; i < 300; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function confirmed(signature: Signature) {
  for (let i = 0; i < 300; i++) {
    const { value } = await rpc.getSignatureStatuses([signature]).send();
    const status = value[0];
    if (status?.err) throw new Error(`the transaction failed: ${JSON.stringify(status.err)}`);
    if (status?.confirmationStatus === 'confirmed' || status?.confirmationStatus === 'finalized') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${signature} was not confirmed within 30 s`);
}

test('a renter finds a node and rents it with a wallet', async () => {
  const renter = await createKeyPairSignerFromBytes(
    new Uint8Array(JSON.parse(readFileSync(env('RENTER_KEYPAIR'), 'utf8'))),
  );
  const browser = await chromium.launch({ executablePath: env('CHROMIUM'), args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    await page.exposeFunction('iomeshTestWalletSend', async (transaction: string) => {
      const unsigned = getTransactionDecoder().decode(getBase64Encoder().encode(transaction));
      const signed = await signTransaction([renter.keyPair], unsigned);
      const signature = await rpc
        .sendTransaction(getBase64EncodedWireTransaction(signed), { encoding: 'base64', preflightCommitment: 'confirmed' })
        .send();
      await confirmed(signature);
      return Array.from(getBase58Encoder().encode(signature));
    });
    await page.addInitScript({
      content: testWalletScript(renter.address, Array.from(getAddressEncoder().encode(renter.address))),
    });

    // The search, every node on offer.
    await page.goto(`${web}/`);
    await shot(page, '1-search');
    assert.equal(await page.locator(`a[href="/nodes/${node}"]`).count(), 1);

    // Filter by model and sort by VRAM, through the labelled form.
    await page.getByLabel('GPU model').fill('RTX 4090');
    await page.getByLabel('Sort by').selectOption('vram');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/gpu_model=RTX\+4090/);
    assert.match(page.url(), /sort=vram/);
    await shot(page, '2-search-filtered');
    await page.getByLabel('GPU model').fill('H100');
    await page.keyboard.press('Enter');
    await page.waitForURL(/gpu_model=H100/);
    assert.equal(await page.getByText('No node matches this search.').count(), 1);
    await page.goBack();

    // The node's page.
    await page.locator(`a[href="/nodes/${node}"]`).click();
    await page.waitForURL(`${web}/nodes/${node}`);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), '4 × RTX 4090 in eu-west');
    const rent = page.getByRole('button', { name: 'Rent with your wallet' });
    assert.equal(await rent.isDisabled(), true, 'renting waits for a wallet');
    await shot(page, '3-node');

    // Connect the wallet, rent 2 GPUs for an hour.
    await page.getByRole('button', { name: 'Connect iomesh test wallet' }).click();
    await page.getByText(`iomesh test wallet: ${renter.address.slice(0, 4)}`).waitFor();
    await page.getByLabel('Hours').fill('1');
    await page.getByLabel('GPUs').fill('2');
    await rent.click();
    const status = page.locator('[data-rent-status]');
    await page.waitForSelector('[data-rent-status][data-lease]', { timeout: 60_000 });
    await shot(page, '4-rented');
    const lease = address((await status.getAttribute('data-lease'))!);
    assert.match((await status.textContent())!, new RegExp(`^Lease ${lease} created`));

    // On-chain: the renter's lease, 2 × $2 × 1 h = 4 USDC in escrow, pending.
    const { data } = await fetchLease(rpc, lease, { commitment: 'confirmed' });
    assert.equal(data.renter, renter.address);
    assert.equal(data.node, node);
    assert.equal(data.gpus, 2);
    assert.equal(data.deposited, 4n * TOKEN);
    assert.equal(data.status, LeaseStatus.Pending);

    // A refusal is shown, not swallowed: more GPUs than are free now.
    await page.getByLabel('GPUs').fill('4');
    await rent.click();
    await page.getByText(/^Not rented: gpus: 4 asked, 2 of the node's 4 free/).waitFor();

    // The renter's page (the wallet reconnects on the new page): the lease,
    // once indexed, waiting for the node; cancelling it refunds everything.
    await page.getByRole('link', { name: 'Your leases' }).click();
    await page.waitForURL(`${web}/renters/${renter.address}`);
    const cancel = page.getByRole('button', { name: `Cancel lease ${lease}` });
    await until('the lease on the renter page', async () => {
      if ((await cancel.count()) === 1) return true;
      await page.reload();
      return false;
    });
    assert.match((await page.locator('table.leases tbody tr').textContent())!, /waiting for the node to start it.*4 USDC/);
    await shot(page, '5-your-leases');
    await until('the wallet reconnected', async () => !(await cancel.isDisabled()));
    await cancel.click();
    await page.waitForSelector('[data-cancel-status][data-cancelled]', { timeout: 60_000 });
    await shot(page, '6-cancelled');
    assert.equal((await rpc.getAccountInfo(lease, { commitment: 'confirmed' }).send()).value, null);
    const [ata] = await findAssociatedTokenPda({ owner: renter.address, mint: address(env('MINT')), tokenProgram: TOKEN_PROGRAM_ADDRESS });
    assert.equal((await fetchToken(rpc, ata, { commitment: 'confirmed' })).data.amount, 10n * TOKEN);
    // Indexed: no open lease, and its ending with the whole deposit refunded.
    await until('the ending on the renter page', async () => {
      await page.reload();
      return (await page.getByText('No open lease.').count()) === 1;
    });
    assert.match((await page.locator('section[aria-labelledby="ended"] tbody tr').first().textContent())!, /cancelled0 USDC4 USDC/);
    await shot(page, '7-ended');
    assert.deepEqual(problems, [], 'no script errors');
  } finally {
    await browser.close();
  }
});
