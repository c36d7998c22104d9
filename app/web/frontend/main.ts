// The pages' one script, an enhancement: every page works without it. It
// connects any Solana wallet through the Wallet Standard and, on a node's
// page, rents the node through the same Solana Action a Blink uses: the
// server builds the transaction, the wallet (the only signer and the fee
// payer) signs and sends it.
import { getWallets } from '@wallet-standard/app';
import type { Wallet, WalletAccount } from '@wallet-standard/base';
import {
  SolanaSignAndSendTransaction,
  type SolanaSignAndSendTransactionFeature,
} from '@solana/wallet-standard-features';
import {
  StandardConnect,
  type StandardConnectFeature,
} from '@wallet-standard/features';

type RentingWallet = Wallet & {
  features: StandardConnectFeature & SolanaSignAndSendTransactionFeature;
};

const chain = (document.querySelector('meta[name="iomesh-wallet-chain"]') as HTMLMetaElement | null)?.content ?? 'solana:mainnet';
let connected: { wallet: RentingWallet; account: WalletAccount } | null = null;

function canRent(wallet: Wallet): wallet is RentingWallet {
  return StandardConnect in wallet.features && SolanaSignAndSendTransaction in wallet.features;
}

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, text?: string) => {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  return node;
};

/** The header's wallet area: a button per wallet able to rent, then the account. */
function renderWallets(area: HTMLElement, wallets: readonly Wallet[]) {
  area.replaceChildren();
  if (connected) {
    const address = connected.account.address;
    area.append(el('span', `${connected.wallet.name}: ${address.slice(0, 4)}…${address.slice(-4)} `));
    for (const [text, path] of [['Your leases', 'renters'], ['Your nodes', 'suppliers']]) {
      const link = el('a', text);
      link.href = `/${path}/${address}`;
      area.append(link, ' ');
    }
    return;
  }
  const usable = wallets.filter(canRent);
  if (usable.length === 0) {
    area.append(el('span', 'No Solana wallet found in this browser'));
    return;
  }
  for (const wallet of usable) {
    const button = el('button', `Connect ${wallet.name}`);
    button.type = 'button';
    button.addEventListener('click', () =>
      connect(area, wallets, wallet, false).catch((err) =>
        area.append(el('span', `Could not connect: ${(err as Error).message}`)),
      ),
    );
    area.append(button);
  }
  // The wallet chosen on an earlier page of this tab, reconnected without a
  // prompt (a wallet that wants one again simply stays disconnected).
  const previous = usable.find((w) => w.name === sessionStorage.getItem(REMEMBERED));
  if (previous) connect(area, wallets, previous, true).catch(() => sessionStorage.removeItem(REMEMBERED));
}

const REMEMBERED = 'iomesh-wallet';

async function connect(area: HTMLElement, wallets: readonly Wallet[], wallet: RentingWallet, silent: boolean) {
  const { accounts } = await wallet.features[StandardConnect].connect({ silent });
  const account = accounts.find((a) => a.chains.includes(chain as `${string}:${string}`)) ?? accounts[0];
  if (!account) throw new Error('the wallet shared no account');
  connected = { wallet, account };
  sessionStorage.setItem(REMEMBERED, wallet.name);
  renderWallets(area, wallets);
  document.dispatchEvent(new CustomEvent('iomesh:wallet'));
}

const base64ToBytes = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
function base58(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = '';
  while (n > 0n) {
    out = BASE58[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = '1' + out;
  }
  return out;
}

/** Posts `account` to an Action and has the wallet sign and send the
 * transaction it returns; resolves to the Action's answer and the signature. */
async function runAction(url: string, chainId: string) {
  if (!connected) throw new Error('connect a wallet first');
  const { wallet, account } = connected;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ account: account.address }),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.message ?? `the server answered ${response.status}`);
  const [sent] = await wallet.features[SolanaSignAndSendTransaction].signAndSendTransaction({
    account,
    chain: chainId as `${string}:${string}`,
    transaction: base64ToBytes(answer.transaction),
  });
  return { message: String(answer.message), signature: base58(sent.signature) };
}

/** The node page's rent form: the Action's POST, then the wallet signs and sends. */
function enhanceRentForm(form: HTMLFormElement) {
  const submit = form.querySelector('button[type="submit"]') as HTMLButtonElement;
  const status = form.querySelector('[data-rent-status]') as HTMLElement;
  const refresh = () => {
    submit.disabled = connected === null;
    submit.title = connected ? '' : 'Connect a wallet first';
  };
  refresh();
  document.addEventListener('iomesh:wallet', refresh);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!connected) return;
    const query = new URLSearchParams();
    for (const name of ['hours', 'gpus', 'mint', 'job_spec']) {
      query.set(name, String(new FormData(form).get(name) ?? ''));
    }
    status.setAttribute('role', 'status');
    status.textContent = 'Building the transaction… then approve it in your wallet';
    submit.disabled = true;
    try {
      const { message, signature } = await runAction(`${form.dataset.action}?${query}`, form.dataset.chain ?? chain);
      const lease = message.match(/^Lease (\w+):/)?.[1] ?? '?';
      status.textContent = `Lease ${lease} created (transaction ${signature}). ${message}`;
      status.dataset.lease = lease;
    } catch (err) {
      status.setAttribute('role', 'alert');
      status.textContent = `Not rented: ${(err as Error).message}`;
    } finally {
      refresh();
    }
  });
}

/** A lease's cancel button on the renter's page, through the lease's Action. */
function enhanceCancelForm(form: HTMLFormElement) {
  const button = form.querySelector('button') as HTMLButtonElement;
  const status = form.querySelector('[data-cancel-status]') as HTMLElement;
  const refresh = () => {
    button.disabled = connected === null;
  };
  refresh();
  document.addEventListener('iomesh:wallet', refresh);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    status.setAttribute('role', 'status');
    status.textContent = ' approve it in your wallet…';
    try {
      const { signature } = await runAction(form.dataset.action!, form.dataset.chain ?? chain);
      status.textContent = ` Cancelled (transaction ${signature})`;
      status.dataset.cancelled = 'true';
    } catch (err) {
      status.setAttribute('role', 'alert');
      status.textContent = ` Not cancelled: ${(err as Error).message}`;
      refresh();
    }
  });
}

const area = document.querySelector('[data-wallet]') as HTMLElement | null;
if (area) {
  const { get, on } = getWallets();
  renderWallets(area, get());
  on('register', () => renderWallets(area, get()));
}
const form = document.querySelector('form[data-rent]') as HTMLFormElement | null;
if (form) enhanceRentForm(form);
document.querySelectorAll<HTMLFormElement>('form[data-cancel]').forEach(enhanceCancelForm);
