// A renter in a real browser (Chromium through Playwright) on iomesh-web
// over the whole stack on a localnet: search, filter and sort, open a node,
// connect a wallet through the Wallet Standard and rent two GPUs through the
// node's Solana Action (the transaction lands with the exact escrow); the
// page hands the job spec to the scheduler with the wallet's signature, the
// node's agent starts the job and the lease activates; the renter's page
// shows the job running and, with an access token the wallet signs, its
// logs; extending it by an hour through its Action escrows exactly one hour
// more, and cancelling through its Action pays the node for the time served
// and refunds the rest to the base unit. The wallet is a test wallet
// registered the way wallet extensions register: its signing happens in
// this process with the renter's key. Screenshots of each page go to
// $SCREENSHOTS.
//
// Run by `./scripts/test` (tests/tests/web/browser.rs starts the localnet,
// the indexer, a scheduler, the node's agent and iomesh-web); by hand:
//   WEB_URL=… RPC_URL=… RENTER_KEYPAIR=path.json NODE=… MINT=… CHROMIUM=/usr/bin/chromium \
//   SCREENSHOTS=dir node --import tsx --test tests/ts/browser.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { address, createSolanaRpc } from '@solana/kit';
import { fetchToken, findAssociatedTokenPda, TOKEN_PROGRAM_ADDRESS } from '@solana-program/token';
import { fetchLease, LeaseStatus } from '../../clients/js/src/index';
import { connect } from 'node:net';
import { env, keypairFile, pageWithWallet, shot, until } from './wallet';

/** Whether something accepts connections on the loopback `port` (the job runs on this machine). */
const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

const rpc = createSolanaRpc(env('RPC_URL'));
const web = env('WEB_URL');
const node = address(env('NODE'));
const TOKEN = 1_000_000n;

test('a renter finds a node and rents it with a wallet', async () => {
  const renter = await keypairFile(env('RENTER_KEYPAIR'));
  const browser = await chromium.launch({ executablePath: env('CHROMIUM'), args: ['--no-sandbox'] });
  try {
    const { page, problems, wallet } = await pageWithWallet(browser, rpc, renter);
    const mint = address(env('MINT'));
    const [ata] = await findAssociatedTokenPda({ owner: renter.address, mint, tokenProgram: TOKEN_PROGRAM_ADDRESS });
    const balance = async () => (await fetchToken(rpc, ata, { commitment: 'confirmed' })).data.amount;
    const startBalance = await balance();

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
    await page.getByLabel('Job spec (JSON)').fill(
      JSON.stringify({ command: ['sh', '-c', 'echo hello from a browser-rented job; sleep 600'] }),
    );
    await rent.click();
    const status = page.locator('[data-rent-status]');
    // The lease lands, then the wallet signs the job spec over to the scheduler.
    await page.waitForSelector('[data-rent-status][data-spec]', { timeout: 60_000 });
    await shot(page, '4-rented');
    assert.equal(await status.getAttribute('data-spec'), 'submitted', (await status.textContent())!);
    const lease = address((await status.getAttribute('data-lease'))!);
    assert.match((await status.textContent())!, new RegExp(`^Lease ${lease} created.*Job spec handed to the scheduler`));

    // On-chain: the renter's lease, 2 × $2 × 1 h = 4 USDC in escrow, pending.
    const { data } = await fetchLease(rpc, lease, { commitment: 'confirmed' });
    assert.equal(data.renter, renter.address);
    assert.equal(data.node, node);
    assert.equal(data.gpus, 2);
    assert.equal(data.deposited, 4n * TOKEN);
    assert.equal(await balance(), startBalance - 4n * TOKEN);

    // A refusal is shown, not swallowed: more GPUs than are free now.
    await page.getByLabel('GPUs').fill('4');
    await rent.click();
    await page.getByText(/^Not rented: gpus: 4 asked, 2 of the node's 4 free/).waitFor();

    // A second lease, 1 GPU, whose spec the wallet's user declines to sign:
    // the lease stands (2 USDC escrowed), waiting for its spec.
    // Its job serves HTTP on a port its spec lists (the test job's echo server).
    const [httpPort, tcpPort] = [Number(env('JOB_HTTP_PORT')), Number(env('JOB_TCP_PORT'))];
    const secondSpec = JSON.stringify({
      command: [env('JOB_BINARY'), 'serve', String(httpPort), String(tcpPort)],
      ports: [httpPort, tcpPort],
    });
    await page.getByLabel('GPUs').fill('1');
    await page.getByLabel('Job spec (JSON)').fill(secondSpec);
    wallet.declineNextMessage();
    await rent.click();
    await page.waitForSelector('[data-rent-status][data-spec]', { timeout: 60_000 });
    assert.equal(await status.getAttribute('data-spec'), 'failed');
    assert.match((await status.textContent())!, /The job spec was not handed over \(the user declined to sign\)/);
    const second = address((await status.getAttribute('data-lease'))!);
    assert.notEqual(second, lease);
    assert.equal(await balance(), startBalance - 6n * TOKEN);

    // The renter's page (the wallet reconnects on the new page): the node's
    // agent started the job, the lease is active on-chain and indexed.
    await page.getByRole('link', { name: 'Your leases' }).click();
    await page.waitForURL(`${web}/renters/${renter.address}`);
    const rowOf = (l: string) =>
      page.locator('table.leases tbody tr').filter({ has: page.getByRole('button', { name: `Cancel lease ${l}` }) });
    const row = rowOf(lease);
    const running = row.locator('[data-job-state="running"]');
    await until(
      'the lease active and its job running on the renter page',
      async () => {
        if ((await running.count()) === 1 && /active/.test((await row.textContent())!)) return true;
        await page.reload();
        return false;
      },
      1_200,
    );
    assert.equal((await fetchLease(rpc, lease, { commitment: 'confirmed' })).data.status, LeaseStatus.Active);
    assert.match((await row.textContent())!, /active\s*running.*4 USDC/);
    await shot(page, '5-your-leases');

    // The second lease waits for its spec: handed over from this page. A
    // spec other than the one the lease committed to is refused by name.
    const pending = rowOf(second);
    assert.match((await pending.textContent())!, /waiting for your job spec/);
    await pending.getByText('Hand over the job spec').click();
    const specForm = pending.locator('form[data-spec]');
    await specForm.getByLabel('Job spec (JSON)').fill(JSON.stringify({ command: ['sh', '-c', 'echo another'] }));
    await specForm.getByRole('button', { name: 'Sign and hand over' }).click();
    await specForm.getByText(/Not handed over: sha256 of the job spec is [0-9a-f]{64}; lease \w+ commits to [0-9a-f]{64}/).waitFor();
    await specForm.getByLabel('Job spec (JSON)').fill(secondSpec);
    await specForm.getByRole('button', { name: 'Sign and hand over' }).click();
    await specForm.locator('[data-status][data-done]').waitFor({ timeout: 60_000 });
    assert.match((await specForm.textContent())!, /Handed over to the scheduler/);
    await until(
      'the second job running',
      async () => {
        if ((await rowOf(second).locator('[data-job-state="running"]').count()) === 1) return true;
        await page.reload();
        return false;
      },
      1_200,
    );

    // Its HTTP port, opened from the page in a new tab at the scheduler with
    // a token the wallet signs: the job answers, seeing its own path.
    await until('the second job listening', () => listening(httpPort));
    const portForm = rowOf(second).locator('form[data-port]');
    await portForm.getByLabel('Port', { exact: true }).fill(String(httpPort));
    const [tab] = await Promise.all([
      page.waitForEvent('popup'),
      portForm.getByRole('button', { name: `Open a port of lease ${second}` }).click(),
    ]);
    await tab.waitForURL(new RegExp(`/v1/leases/${second}/ports/${httpPort}/`));
    await tab.waitForLoadState();
    const echo = JSON.parse((await tab.locator('body').textContent())!);
    assert.equal(echo.path, '/');
    assert.equal(echo.query, null, 'the token is not passed to the job');
    await tab.close();
    assert.match((await portForm.textContent())!, new RegExp(`Opened port ${httpPort} in a new tab`));

    // Its logs, with an access token the wallet signs.
    const logs = page.getByRole('button', { name: `Logs of lease ${lease}` });
    await until('the wallet reconnected', async () => !(await logs.isDisabled()));
    await logs.click();
    await page.locator('[data-log-lines]').getByText('hello from a browser-rented job').waitFor({ timeout: 60_000 });
    assert.match((await page.locator('[data-logs-status]').textContent())!, new RegExp(`Lease ${lease}: following its logs`));
    await shot(page, '6-logs');

    // Extend it by an hour through its Action: 4 USDC more in escrow.
    const extend = row.locator('form[data-extend]');
    await extend.getByLabel('More hours').fill('1');
    await page.getByRole('button', { name: `Extend lease ${lease}` }).click();
    await extend.locator('[data-status][data-done]').waitFor({ timeout: 60_000 });
    assert.match((await extend.textContent())!, new RegExp(`Extended .*Lease ${lease} extended by 1h.*4 USDC more in escrow`));
    const extended = (await fetchLease(rpc, lease, { commitment: 'confirmed' })).data;
    assert.equal(extended.durationSecs, 7_200);
    assert.equal(extended.deposited, 8n * TOKEN);
    assert.equal(await balance(), startBalance - 10n * TOKEN, "4 + 4 USDC for this lease, 2 for the second");

    // Cancel: the node is paid for the time served, the rest comes back.
    const cancel = page.getByRole('button', { name: `Cancel lease ${lease}` });
    await cancel.click();
    await row.locator('form[data-cancel] [data-status][data-done]').waitFor({ timeout: 60_000 });
    await shot(page, '7-cancelled');
    assert.equal((await rpc.getAccountInfo(lease, { commitment: 'confirmed' }).send()).value, null);
    // Indexed: the lease no longer open, and its ending: what was paid and
    // refunded, the two making the deposit, the refund back in the wallet
    // exactly (the second lease's 2 USDC still in escrow).
    await until('the ending on the renter page', async () => {
      await page.reload();
      return (await row.count()) === 0 && (await page.locator('section[aria-labelledby="ended"] tbody tr').count()) === 1;
    });
    const ending = (await page.locator('section[aria-labelledby="ended"] tbody tr').first().textContent())!;
    const [, paid, refunded] = ending.match(/cancelled([\d.]+) USDC([\d.]+) USDC/) ?? [];
    assert.ok(paid && refunded, ending);
    const units = (text: string) => BigInt(Math.round(Number(text) * 1e6));
    assert.ok(units(paid) > 0n, `the node was paid for the time served: ${ending}`);
    assert.equal(units(paid) + units(refunded), 8n * TOKEN, ending);
    assert.equal(await balance(), startBalance - 2n * TOKEN - units(paid));
    await shot(page, '8-ended');
    assert.deepEqual(problems, [], 'no script errors');
  } finally {
    await browser.close();
  }
});
