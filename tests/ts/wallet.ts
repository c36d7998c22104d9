// What the browser tests share: a Wallet Standard test wallet registered in
// the page the way wallet extensions register, whose signing happens in the
// test process with a local keypair (signAndSendTransaction sends through
// the localnet's RPC and waits for confirmation; signMessage signs the bytes
// as they are), and small helpers.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  createKeyPairSignerFromBytes,
  getAddressEncoder,
  getBase58Encoder,
  getBase64EncodedWireTransaction,
  getBase64Encoder,
  getTransactionDecoder,
  signBytes,
  signTransaction,
  type KeyPairSigner,
  type Rpc,
  type Signature,
  type SolanaRpcApi,
} from '@solana/kit';

export const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (see the header of the test file)`);
  return value;
};

/** A Solana CLI keypair file (a JSON array of 64 bytes) as a signer. */
export async function keypairFile(path: string): Promise<KeyPairSigner> {
  return createKeyPairSignerFromBytes(new Uint8Array(JSON.parse(readFileSync(path, 'utf8'))));
}

/** Runs in the page before its scripts: a Wallet Standard wallet whose
 * signAndSendTransaction and signMessage are the test process's
 * `iomeshTestWalletSend` and `iomeshTestWalletSign`, registered the way
 * wallet extensions register. Plain JavaScript in a string: a function
 * compiled by tsx would carry helpers the page lacks. */
function testWalletScript(address: string, publicKey: number[]) {
  return `(() => {
    const chains = ['solana:localnet'];
    const account = {
      address: ${JSON.stringify(address)},
      publicKey: new Uint8Array(${JSON.stringify(publicKey)}),
      chains,
      features: ['solana:signAndSendTransaction', 'solana:signMessage'],
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
        'solana:signMessage': {
          version: '1.1.0',
          signMessage: async (...inputs) => Promise.all(inputs.map(async ({ message }) => ({
            signedMessage: message,
            signature: new Uint8Array(await window.iomeshTestWalletSign(btoa(String.fromCharCode(...message)))),
          }))),
        },
      },
    };
    const callback = ({ register }) => register(wallet);
    window.dispatchEvent(new CustomEvent('wallet-standard:register-wallet', { detail: callback }));
    window.addEventListener('wallet-standard:app-ready', (event) => callback(event.detail));
  })();`;
}

export async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(env('SCREENSHOTS'), `${name}.png`), fullPage: true });
}

export async function until(what: string, check: () => Promise<boolean>, tries = 300) {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function confirmed(rpc: Rpc<SolanaRpcApi>, signature: Signature) {
  for (let i = 0; i < 300; i++) {
    const { value } = await rpc.getSignatureStatuses([signature]).send();
    const status = value[0];
    if (status?.err) throw new Error(`the transaction failed: ${JSON.stringify(status.err)}`);
    if (status?.confirmationStatus === 'confirmed' || status?.confirmationStatus === 'finalized') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${signature} was not confirmed within 30 s`);
}

/** A page whose Wallet Standard test wallet signs with `signer`; `problems`
 * collects the page's script errors; `wallet.declineNextMessage()` has the
 * wallet's user decline the next message it is asked to sign. */
export async function pageWithWallet(browser: Browser, rpc: Rpc<SolanaRpcApi>, signer: KeyPairSigner) {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  await page.exposeFunction('iomeshTestWalletSend', async (transaction: string) => {
    const unsigned = getTransactionDecoder().decode(getBase64Encoder().encode(transaction));
    const signed = await signTransaction([signer.keyPair], unsigned);
    const signature = await rpc
      .sendTransaction(getBase64EncodedWireTransaction(signed), { encoding: 'base64', preflightCommitment: 'confirmed' })
      .send();
    await confirmed(rpc, signature);
    return Array.from(getBase58Encoder().encode(signature));
  });
  // The wallet's user declines the next message when the test says so.
  let declineNext = false;
  await page.exposeFunction('iomeshTestWalletSign', async (message: string) => {
    if (declineNext) {
      declineNext = false;
      throw new Error('the user declined to sign');
    }
    return Array.from(await signBytes(signer.keyPair.privateKey, getBase64Encoder().encode(message)));
  });
  await page.addInitScript({
    content: testWalletScript(signer.address, Array.from(getAddressEncoder().encode(signer.address))),
  });
  const wallet = {
    declineNextMessage: () => {
      declineNext = true;
    },
  };
  return { page, problems, wallet };
}
