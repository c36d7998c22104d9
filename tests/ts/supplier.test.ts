// A supplier in a real browser (Chromium through Playwright) on iomesh-web:
// its page lists its node's reward in the epoch the reward job published;
// it connects its wallet through the Wallet Standard and claims the reward
// through the claim Action: exactly the leaf's amount arrives in its IO
// account, and the page then shows the reward claimed. Screenshots go to
// $SCREENSHOTS.
//
// Run by `./scripts/test` (tests/tests/web/browser.rs sets up the staked
// node, runs the reward job and starts iomesh-web); by hand:
//   WEB_URL=… RPC_URL=… OWNER_KEYPAIR=path.json NODE=… IO_MINT=… AMOUNT=… EPOCH=… \
//   CHROMIUM=/usr/bin/chromium SCREENSHOTS=dir node --import tsx --test tests/ts/supplier.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { address, createSolanaRpc } from '@solana/kit';
import { fetchToken, findAssociatedTokenPda, TOKEN_PROGRAM_ADDRESS } from '@solana-program/token';
import { env, keypairFile, pageWithWallet, shot, until } from './wallet';

const rpc = createSolanaRpc(env('RPC_URL'));
const web = env('WEB_URL');
const node = address(env('NODE'));
const epoch = env('EPOCH');
const amount = BigInt(env('AMOUNT'));

test('a supplier claims its node reward with a wallet', async () => {
  const owner = await keypairFile(env('OWNER_KEYPAIR'));
  const [ata] = await findAssociatedTokenPda({
    owner: owner.address,
    mint: address(env('IO_MINT')),
    tokenProgram: TOKEN_PROGRAM_ADDRESS,
  });
  const balance = async () => (await fetchToken(rpc, ata, { commitment: 'confirmed' })).data.amount;
  const before = await balance();
  const browser = await chromium.launch({ executablePath: env('CHROMIUM'), args: ['--no-sandbox'] });
  try {
    const { page, problems } = await pageWithWallet(browser, rpc, owner);
    await page.goto(`${web}/suppliers/${owner.address}`);
    const row = page.locator('table.rewards tbody tr');
    assert.equal(await row.count(), 1);
    assert.match((await row.textContent())!, new RegExp(`^${epoch}.*${node.slice(0, 4)}.*5 IOclaimable`));
    const claim = page.getByRole('button', { name: `Claim epoch ${epoch}'s reward for node ${node}` });
    assert.equal(await claim.isDisabled(), true, 'claiming waits for a wallet');
    await shot(page, 'supplier-1-rewards');

    await page.getByRole('button', { name: 'Connect iomesh test wallet' }).click();
    await until('the wallet connected', async () => !(await claim.isDisabled()));
    await claim.click();
    await page.locator('form[data-claim] [data-status][data-done]').waitFor({ timeout: 60_000 });
    assert.match(
      (await page.locator('form[data-claim]').textContent())!,
      new RegExp(`Claimed .*Epoch ${epoch}: 5 IO for node ${node} claimed`),
    );
    assert.equal(await claim.isDisabled(), true, 'a claimed reward cannot be claimed again from the page');
    await shot(page, 'supplier-2-claimed');
    assert.equal(await balance(), before + amount);

    // Claimed on-chain: the page says so and offers no second claim.
    await page.reload();
    assert.match((await row.textContent())!, /5 IOclaimed/);
    assert.equal(await claim.count(), 0);
    // The Action refuses a second claim by name.
    const again = await fetch(`${web}/api/actions/claim/${epoch}/${node}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ account: owner.address }),
    });
    assert.equal(again.status, 409);
    assert.match((await again.json()).message, /is claimed/);
    assert.deepEqual(problems, [], 'no script errors');
  } finally {
    await browser.close();
  }
});
