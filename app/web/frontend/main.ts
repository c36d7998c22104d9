// The pages' one script, an enhancement: every page works without it. It
// connects any Solana wallet through the Wallet Standard and, on a node's
// page, rents the node through the same Solana Action a Blink uses: the
// server builds the transaction, the wallet (the only signer and the fee
// payer) signs and sends it. With a wallet that signs messages, it then
// hands the job spec to the scheduler, and on the renter's page it reads a
// job's logs with an access token the wallet signs.
import { getWallets } from '@wallet-standard/app';
import type { Wallet, WalletAccount } from '@wallet-standard/base';
import {
  SolanaSignAndSendTransaction,
  SolanaSignMessage,
  type SolanaSignAndSendTransactionFeature,
  type SolanaSignMessageFeature,
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
const base64Url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const utf8 = (text: string) => new TextEncoder().encode(text);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

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

function base58Decode(text: string): Uint8Array {
  let n = 0n;
  for (const c of text) {
    const digit = BASE58.indexOf(c);
    if (digit < 0) throw new Error(`${text} is not base58`);
    n = n * 58n + BigInt(digit);
  }
  const bytes: number[] = [];
  while (n > 0n) {
    bytes.unshift(Number(n % 256n));
    n /= 256n;
  }
  for (const c of text) {
    if (c !== '1') break;
    bytes.unshift(0);
  }
  return Uint8Array.from(bytes);
}

/** The connected wallet's signature over `message`, if it signs messages as they are. */
async function signMessage(message: Uint8Array): Promise<Uint8Array> {
  if (!connected) throw new Error('connect a wallet first');
  const { wallet, account } = connected;
  const feature = (wallet.features as Partial<SolanaSignMessageFeature>)[SolanaSignMessage];
  if (!feature) throw new Error(`${wallet.name} does not sign messages (solana:signMessage)`);
  const [signed] = await feature.signMessage({ account, message });
  const same =
    signed.signedMessage.length === message.length && signed.signedMessage.every((b, i) => b === message[i]);
  if (!same) throw new Error(`${wallet.name} changed the message before signing it`);
  return signed.signature;
}

// What the scheduler verifies (crates/iomesh-agent-proto): domain-separated
// messages, so none can be taken for a transaction.
const SPEC_DOMAIN = utf8('iomesh-job-spec-v1\0');
const ACCESS_DOMAIN = utf8('iomesh-access-v1\0');
const TOKEN_SECS = 120;

/** Hands the scheduler the job spec the lease commits to, signed by the
 * renter; a lease that just landed is not indexed yet (404): asked again. */
async function submitSpec(lease: string, spec: string) {
  const bytes = utf8(spec);
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  const signature = await signMessage(concat(SPEC_DOMAIN, base58Decode(lease), hash));
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`/api/jobs/${lease}/spec`, {
      method: 'POST',
      headers: { 'x-iomesh-signature': base58(signature) },
      body: bytes,
    });
    if (response.ok) return;
    if (response.status === 404 && attempt < 40) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      continue;
    }
    const answer = await response.json().catch(() => ({}));
    throw new Error(answer.message ?? `the scheduler answered ${response.status}`);
  }
}

/** A one-use access token for `lease`, signed by the connected wallet. */
async function accessToken(lease: string) {
  if (!connected) throw new Error('connect a wallet first');
  const nonce = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
  const claims = utf8(
    JSON.stringify({
      v: 1,
      scope: { lease },
      renter: connected.account.address,
      exp: Math.floor(Date.now() / 1000) + TOKEN_SECS,
      nonce,
    }),
  );
  const signature = await signMessage(concat(ACCESS_DOMAIN, claims));
  return `${base64Url(claims)}.${base58(signature)}`;
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
    // The status speaks of this attempt only.
    delete status.dataset.lease;
    delete status.dataset.spec;
    status.textContent = 'Building the transaction… then approve it in your wallet';
    submit.disabled = true;
    try {
      const { message, signature } = await runAction(`${form.dataset.action}?${query}`, form.dataset.chain ?? chain);
      const lease = message.match(/^Lease (\w+):/)?.[1] ?? '?';
      status.textContent = `Lease ${lease} created (transaction ${signature}). ${message}`;
      status.dataset.lease = lease;
      await handOverSpec(status, lease, String(new FormData(form).get('job_spec') ?? ''));
    } catch (err) {
      status.setAttribute('role', 'alert');
      status.textContent = `Not rented: ${(err as Error).message}`;
    } finally {
      refresh();
    }
  });
}

/** After renting: the job spec to the scheduler, if the wallet signs messages. */
async function handOverSpec(status: HTMLElement, lease: string, spec: string) {
  const line = el('span');
  status.append(' ', line);
  line.textContent = 'Sign the job spec in your wallet to hand it to the node…';
  try {
    await submitSpec(lease, spec);
    line.textContent = 'Job spec handed to the scheduler: the node starts it shortly.';
    status.dataset.spec = 'submitted';
  } catch (err) {
    line.textContent = `The job spec was not handed over (${(err as Error).message}); the message above says how to hand it over yourself.`;
    status.dataset.spec = 'failed';
  }
}

/** A running lease's port form: a tab opened at once (while the click
 * still counts as one for popup blockers), then sent to the port at the
 * scheduler with a token the wallet signs. */
function enhancePortForm(form: HTMLFormElement) {
  enhanceSigningForm(form, 'Opened', true, async (fields) => {
    const tab = window.open('about:blank', '_blank');
    if (!tab) throw new Error('the browser blocked the new tab');
    tab.opener = null;
    try {
      const lease = form.dataset.lease!;
      const port = String(fields.get('port') ?? '');
      const token = await accessToken(lease);
      tab.location.href = `${form.dataset.scheduler}/v1/leases/${lease}/ports/${port}/?iomesh_token=${encodeURIComponent(token)}`;
      return `port ${port} in a new tab.`;
    } catch (err) {
      tab.close();
      throw err;
    }
  });
}

/** The renter page's Logs buttons: the wallet signs an access token, then
 * the job's lines arrive in the panel as the job writes them. */
function enhanceLogButtons(panel: HTMLElement) {
  const buttons = document.querySelectorAll<HTMLButtonElement>('button[data-logs]');
  const status = panel.querySelector('[data-logs-status]') as HTMLElement;
  const lines = panel.querySelector('[data-log-lines]') as HTMLElement;
  let reading: AbortController | null = null;
  const refresh = () => buttons.forEach((button) => (button.disabled = connected === null));
  refresh();
  document.addEventListener('iomesh:wallet', refresh);
  buttons.forEach((button) =>
    button.addEventListener('click', async () => {
      const lease = button.dataset.logs!;
      reading?.abort();
      reading = new AbortController();
      panel.hidden = false;
      panel.dataset.lease = lease;
      lines.textContent = '';
      status.textContent = `Sign the access token for lease ${lease} in your wallet…`;
      try {
        const token = await accessToken(lease);
        const response = await fetch(`/api/jobs/${lease}/logs?tail=500&follow=true`, {
          headers: { authorization: `Bearer ${token}` },
          signal: reading.signal,
        });
        if (!response.ok || !response.body) {
          const answer = await response.json().catch(() => ({}));
          throw new Error(answer.message ?? `the server answered ${response.status}`);
        }
        status.textContent = `Lease ${lease}: following its logs`;
        await followLines(response.body, lines);
        status.textContent = `Lease ${lease}: the job's logs end here`;
      } catch (err) {
        if ((err as Error).name === 'AbortError') return;
        status.textContent = `No logs: ${(err as Error).message}`;
      }
    }),
  );
}

/** Appends each JSON line's text as it arrives (stderr marked). */
async function followLines(body: ReadableStream<Uint8Array>, into: HTMLElement) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    pending += value;
    const complete = pending.split('\n');
    pending = complete.pop() ?? '';
    for (const text of complete.filter((l) => l.trim())) {
      const line = JSON.parse(text);
      const shown = line.error ? `[error] ${line.error}` : `${line.stream === 'stderr' ? '[stderr] ' : ''}${line.line ?? ''}`;
      into.append(shown + '\n');
    }
  }
}

/** A form of the renter's and supplier's pages that asks the wallet to
 * sign: `act` does the work and returns what to say after `verb` ("Extended",
 * "Cancelled"…). A form whose work cannot be repeated stays disabled once
 * done. */
function enhanceSigningForm(
  form: HTMLFormElement,
  verb: string,
  repeatable: boolean,
  act: (fields: FormData) => Promise<string>,
) {
  const button = form.querySelector('button') as HTMLButtonElement;
  const status = form.querySelector('[data-status]') as HTMLElement;
  let done = false;
  const refresh = () => {
    button.disabled = connected === null || (done && !repeatable);
  };
  refresh();
  document.addEventListener('iomesh:wallet', refresh);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    status.setAttribute('role', 'status');
    status.textContent = ' approve it in your wallet…';
    try {
      status.textContent = ` ${verb} ${await act(new FormData(form))}`;
      status.dataset.done = 'true';
      done = true;
    } catch (err) {
      status.setAttribute('role', 'alert');
      status.textContent = ` Not ${verb.toLowerCase()}: ${(err as Error).message}`;
    } finally {
      refresh();
    }
  });
}

/** An Action form (extend, cancel, claim): the Action's POST with the
 * form's fields as its query, then the wallet signs and sends. */
function enhanceActionForm(form: HTMLFormElement, verb: string, repeatable: boolean) {
  enhanceSigningForm(form, verb, repeatable, async (fields) => {
    const query = new URLSearchParams();
    fields.forEach((value, name) => query.set(name, String(value)));
    const url = query.size > 0 ? `${form.dataset.action}?${query}` : form.dataset.action!;
    const { message, signature } = await runAction(url, form.dataset.chain ?? chain);
    return `(transaction ${signature}). ${message}`;
  });
}

/** The form of a lease still waiting for its job spec (not handed over when
 * it was rented): the scheduler checks it against the lease's commitment. */
function enhanceSpecForm(form: HTMLFormElement) {
  enhanceSigningForm(form, 'Handed over', false, async (fields) => {
    await submitSpec(form.dataset.lease!, String(fields.get('job_spec') ?? ''));
    return 'to the scheduler: the node starts it shortly.';
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
document.querySelectorAll<HTMLFormElement>('form[data-extend]').forEach((f) => enhanceActionForm(f, 'Extended', true));
document.querySelectorAll<HTMLFormElement>('form[data-cancel]').forEach((f) => enhanceActionForm(f, 'Cancelled', false));
document.querySelectorAll<HTMLFormElement>('form[data-claim]').forEach((f) => enhanceActionForm(f, 'Claimed', false));
document.querySelectorAll<HTMLFormElement>('form[data-spec]').forEach(enhanceSpecForm);
document.querySelectorAll<HTMLFormElement>('form[data-port]').forEach(enhancePortForm);
const logsPanel = document.querySelector('[data-logs-panel]') as HTMLElement | null;
if (logsPanel) enhanceLogButtons(logsPanel);
