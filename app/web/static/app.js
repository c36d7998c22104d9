// node_modules/@wallet-standard/app/lib/esm/wallets.js
var e = function(e, t, n, r) {
	if (n === "a" && !r) throw TypeError("Private accessor was defined without a getter");
	if (typeof t == "function" ? e !== t || !r : !t.has(e)) throw TypeError("Cannot read private member from an object whose class did not declare it");
	return n === "m" ? r : n === "a" ? r.call(e) : r ? r.value : t.get(e);
}, t = function(e, t, n, r, i) {
	if (r === "m") throw TypeError("Private method is not writable");
	if (r === "a" && !i) throw TypeError("Private accessor was defined without a setter");
	if (typeof t == "function" ? e !== t || !i : !t.has(e)) throw TypeError("Cannot write private member to an object whose class did not declare it");
	return r === "a" ? i.call(e, n) : i ? i.value = n : t.set(e, n), n;
}, n, r = void 0, i = /* @__PURE__ */ new Set();
function a(e) {
	u = void 0, i.add(e);
}
function o(e) {
	u = void 0, i.delete(e);
}
var s = {};
function c() {
	if (r || (r = Object.freeze({
		register: l,
		get: d,
		on: f
	}), typeof window > "u")) return r;
	let e = Object.freeze({ register: l });
	try {
		window.addEventListener("wallet-standard:register-wallet", ({ detail: t }) => t(e));
	} catch (e) {
		console.error("wallet-standard:register-wallet event listener could not be added\n", e);
	}
	try {
		window.dispatchEvent(new m(e));
	} catch (e) {
		console.error("wallet-standard:app-ready event could not be dispatched\n", e);
	}
	return r;
}
function l(...e) {
	return e = e.filter((e) => !i.has(e)), e.length ? (e.forEach((e) => a(e)), s.register?.forEach((t) => p(() => t(...e))), function() {
		e.forEach((e) => o(e)), s.unregister?.forEach((t) => p(() => t(...e)));
	}) : () => {};
}
var u;
function d() {
	return u ||= [...i], u;
}
function f(e, t) {
	return s[e]?.push(t) || (s[e] = [t]), function() {
		s[e] = s[e]?.filter((e) => t !== e);
	};
}
function p(e) {
	try {
		e();
	} catch (e) {
		console.error(e);
	}
}
var m = class extends Event {
	get detail() {
		return e(this, n, "f");
	}
	get type() {
		return "wallet-standard:app-ready";
	}
	constructor(e) {
		super("wallet-standard:app-ready", {
			bubbles: !1,
			cancelable: !1,
			composed: !1
		}), n.set(this, void 0), t(this, n, e, "f");
	}
	preventDefault() {
		throw Error("preventDefault cannot be called");
	}
	stopImmediatePropagation() {
		throw Error("stopImmediatePropagation cannot be called");
	}
	stopPropagation() {
		throw Error("stopPropagation cannot be called");
	}
};
n = /* @__PURE__ */ new WeakMap();
// node_modules/@solana/wallet-standard-features/lib/esm/signAndSendTransaction.js
var h = "solana:signAndSendTransaction", g = "solana:signMessage", _ = "standard:connect", v = document.querySelector("meta[name=\"iomesh-wallet-chain\"]")?.content ?? "solana:mainnet", y = null;
function b(e) {
	return "standard:connect" in e.features && "solana:signAndSendTransaction" in e.features;
}
var x = (e, t) => {
	let n = document.createElement(e);
	return t !== void 0 && (n.textContent = t), n;
};
function S(e, t) {
	if (e.replaceChildren(), y) {
		let t = y.account.address;
		e.append(x("span", `${y.wallet.name}: ${t.slice(0, 4)}…${t.slice(-4)} `));
		for (let [n, r] of [["Your leases", "renters"], ["Your nodes", "suppliers"]]) {
			let i = x("a", n);
			i.href = `/${r}/${t}`, e.append(i, " ");
		}
		return;
	}
	let n = t.filter(b);
	if (n.length === 0) {
		e.append(x("span", "No Solana wallet found in this browser"));
		return;
	}
	for (let r of n) {
		let n = x("button", `Connect ${r.name}`);
		n.type = "button", n.addEventListener("click", () => w(e, t, r, !1).catch((t) => e.append(x("span", `Could not connect: ${t.message}`)))), e.append(n);
	}
	let r = n.find((e) => e.name === sessionStorage.getItem(C));
	r && w(e, t, r, !0).catch(() => sessionStorage.removeItem(C));
}
var C = "iomesh-wallet";
async function w(e, t, n, r) {
	let { accounts: i } = await n.features[_].connect({ silent: r }), a = i.find((e) => e.chains.includes(v)) ?? i[0];
	if (!a) throw Error("the wallet shared no account");
	y = {
		wallet: n,
		account: a
	}, sessionStorage.setItem(C, n.name), S(e, t), document.dispatchEvent(new CustomEvent("iomesh:wallet"));
}
var T = (e) => Uint8Array.from(atob(e), (e) => e.charCodeAt(0)), E = (e) => btoa(String.fromCharCode(...e)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""), D = (e) => new TextEncoder().encode(e), O = (...e) => {
	let t = new Uint8Array(e.reduce((e, t) => e + t.length, 0)), n = 0;
	for (let r of e) t.set(r, n), n += r.length;
	return t;
}, k = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
function A(e) {
	let t = 0n;
	for (let n of e) t = t * 256n + BigInt(n);
	let n = "";
	for (; t > 0n;) n = k[Number(t % 58n)] + n, t /= 58n;
	for (let t of e) {
		if (t !== 0) break;
		n = "1" + n;
	}
	return n;
}
function j(e) {
	let t = 0n;
	for (let n of e) {
		let r = k.indexOf(n);
		if (r < 0) throw Error(`${e} is not base58`);
		t = t * 58n + BigInt(r);
	}
	let n = [];
	for (; t > 0n;) n.unshift(Number(t % 256n)), t /= 256n;
	for (let t of e) {
		if (t !== "1") break;
		n.unshift(0);
	}
	return Uint8Array.from(n);
}
async function M(e) {
	if (!y) throw Error("connect a wallet first");
	let { wallet: t, account: n } = y, r = t.features[g];
	if (!r) throw Error(`${t.name} does not sign messages (solana:signMessage)`);
	let [i] = await r.signMessage({
		account: n,
		message: e
	});
	if (!(i.signedMessage.length === e.length && i.signedMessage.every((t, n) => t === e[n]))) throw Error(`${t.name} changed the message before signing it`);
	return i.signature;
}
var N = D("iomesh-job-spec-v1\0"), P = D("iomesh-access-v1\0"), F = 120;
async function I(e, t) {
	let n = D(t), r = new Uint8Array(await crypto.subtle.digest("SHA-256", n)), i = await M(O(N, j(e), r));
	for (let t = 0;; t++) {
		let r = await fetch(`/api/jobs/${e}/spec`, {
			method: "POST",
			headers: { "x-iomesh-signature": A(i) },
			body: n
		});
		if (r.ok) return;
		if (r.status === 404 && t < 40) {
			await new Promise((e) => setTimeout(e, 500));
			continue;
		}
		let a = await r.json().catch(() => ({}));
		throw Error(a.message ?? `the scheduler answered ${r.status}`);
	}
}
async function L(e) {
	if (!y) throw Error("connect a wallet first");
	let t = Array.from(crypto.getRandomValues(/* @__PURE__ */ new Uint8Array(16)), (e) => e.toString(16).padStart(2, "0")).join(""), n = D(JSON.stringify({
		v: 1,
		scope: { lease: e },
		renter: y.account.address,
		exp: Math.floor(Date.now() / 1e3) + F,
		nonce: t
	})), r = await M(O(P, n));
	return `${E(n)}.${A(r)}`;
}
async function R(e, t) {
	if (!y) throw Error("connect a wallet first");
	let { wallet: n, account: r } = y, i = await fetch(e, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ account: r.address })
	}), a = await i.json();
	if (!i.ok) throw Error(a.message ?? `the server answered ${i.status}`);
	let [o] = await n.features[h].signAndSendTransaction({
		account: r,
		chain: t,
		transaction: T(a.transaction)
	});
	return {
		message: String(a.message),
		signature: A(o.signature)
	};
}
function z(e) {
	let t = e.querySelector("button[type=\"submit\"]"), n = e.querySelector("[data-rent-status]"), r = () => {
		t.disabled = y === null, t.title = y ? "" : "Connect a wallet first";
	};
	r(), document.addEventListener("iomesh:wallet", r), e.addEventListener("submit", async (i) => {
		if (i.preventDefault(), !y) return;
		let a = new URLSearchParams();
		for (let t of [
			"hours",
			"gpus",
			"mint",
			"job_spec"
		]) a.set(t, String(new FormData(e).get(t) ?? ""));
		n.setAttribute("role", "status"), delete n.dataset.lease, delete n.dataset.spec, n.textContent = "Building the transaction… then approve it in your wallet", t.disabled = !0;
		try {
			let { message: t, signature: r } = await R(`${e.dataset.action}?${a}`, e.dataset.chain ?? v), i = t.match(/^Lease (\w+):/)?.[1] ?? "?";
			n.textContent = `Lease ${i} created (transaction ${r}). ${t}`, n.dataset.lease = i, await B(n, i, String(new FormData(e).get("job_spec") ?? ""));
		} catch (e) {
			n.setAttribute("role", "alert"), n.textContent = `Not rented: ${e.message}`;
		} finally {
			r();
		}
	});
}
async function B(e, t, n) {
	let r = x("span");
	e.append(" ", r), r.textContent = "Sign the job spec in your wallet to hand it to the node…";
	try {
		await I(t, n), r.textContent = "Job spec handed to the scheduler: the node starts it shortly.", e.dataset.spec = "submitted";
	} catch (t) {
		r.textContent = `The job spec was not handed over (${t.message}); the message above says how to hand it over yourself.`, e.dataset.spec = "failed";
	}
}
function V(e) {
	W(e, "Opened", !0, async (t) => {
		let n = window.open("about:blank", "_blank");
		if (!n) throw Error("the browser blocked the new tab");
		n.opener = null;
		try {
			let r = e.dataset.lease, i = String(t.get("port") ?? ""), a = await L(r);
			return n.location.href = `${e.dataset.scheduler}/v1/leases/${r}/ports/${i}/?iomesh_token=${encodeURIComponent(a)}`, `port ${i} in a new tab.`;
		} catch (e) {
			throw n.close(), e;
		}
	});
}
function H(e) {
	let t = document.querySelectorAll("button[data-logs]"), n = e.querySelector("[data-logs-status]"), r = e.querySelector("[data-log-lines]"), i = null, a = () => t.forEach((e) => e.disabled = y === null);
	a(), document.addEventListener("iomesh:wallet", a), t.forEach((t) => t.addEventListener("click", async () => {
		let a = t.dataset.logs;
		i?.abort(), i = new AbortController(), e.hidden = !1, e.dataset.lease = a, r.textContent = "", n.textContent = `Sign the access token for lease ${a} in your wallet…`;
		try {
			let e = await L(a), t = await fetch(`/api/jobs/${a}/logs?tail=500&follow=true`, {
				headers: { authorization: `Bearer ${e}` },
				signal: i.signal
			});
			if (!t.ok || !t.body) {
				let e = await t.json().catch(() => ({}));
				throw Error(e.message ?? `the server answered ${t.status}`);
			}
			n.textContent = `Lease ${a}: following its logs`, await U(t.body, r), n.textContent = `Lease ${a}: the job's logs end here`;
		} catch (e) {
			if (e.name === "AbortError") return;
			n.textContent = `No logs: ${e.message}`;
		}
	}));
}
async function U(e, t) {
	let n = e.pipeThrough(new TextDecoderStream()).getReader(), r = "";
	for (;;) {
		let { value: e, done: i } = await n.read();
		if (i) return;
		r += e;
		let a = r.split("\n");
		r = a.pop() ?? "";
		for (let e of a.filter((e) => e.trim())) {
			let n = JSON.parse(e), r = n.error ? `[error] ${n.error}` : `${n.stream === "stderr" ? "[stderr] " : ""}${n.line ?? ""}`;
			t.append(r + "\n");
		}
	}
}
function W(e, t, n, r) {
	let i = e.querySelector("button"), a = e.querySelector("[data-status]"), o = !1, s = () => {
		i.disabled = y === null || o && !n;
	};
	s(), document.addEventListener("iomesh:wallet", s), e.addEventListener("submit", async (n) => {
		n.preventDefault(), i.disabled = !0, a.setAttribute("role", "status"), a.textContent = " approve it in your wallet…";
		try {
			a.textContent = ` ${t} ${await r(new FormData(e))}`, a.dataset.done = "true", o = !0;
		} catch (e) {
			a.setAttribute("role", "alert"), a.textContent = ` Not ${t.toLowerCase()}: ${e.message}`;
		} finally {
			s();
		}
	});
}
function G(e, t, n) {
	W(e, t, n, async (t) => {
		let n = new URLSearchParams();
		t.forEach((e, t) => n.set(t, String(e)));
		let { message: r, signature: i } = await R(n.size > 0 ? `${e.dataset.action}?${n}` : e.dataset.action, e.dataset.chain ?? v);
		return `(transaction ${i}). ${r}`;
	});
}
function K(e) {
	W(e, "Handed over", !1, async (t) => (await I(e.dataset.lease, String(t.get("job_spec") ?? "")), "to the scheduler: the node starts it shortly."));
}
var q = document.querySelector("[data-wallet]");
if (q) {
	let { get: e, on: t } = c();
	S(q, e()), t("register", () => S(q, e()));
}
var J = document.querySelector("form[data-rent]");
J && z(J), document.querySelectorAll("form[data-extend]").forEach((e) => G(e, "Extended", !0)), document.querySelectorAll("form[data-cancel]").forEach((e) => G(e, "Cancelled", !1)), document.querySelectorAll("form[data-claim]").forEach((e) => G(e, "Claimed", !1)), document.querySelectorAll("form[data-spec]").forEach(K), document.querySelectorAll("form[data-port]").forEach(V);
var Y = document.querySelector("[data-logs-panel]");
Y && H(Y);
