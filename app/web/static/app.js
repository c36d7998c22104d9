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
var h = "solana:signAndSendTransaction", g = "standard:connect", _ = document.querySelector("meta[name=\"iomesh-wallet-chain\"]")?.content ?? "solana:mainnet", v = null;
function y(e) {
	return "standard:connect" in e.features && "solana:signAndSendTransaction" in e.features;
}
var b = (e, t) => {
	let n = document.createElement(e);
	return t !== void 0 && (n.textContent = t), n;
};
function x(e, t) {
	if (e.replaceChildren(), v) {
		let t = v.account.address;
		e.append(b("span", `${v.wallet.name}: ${t.slice(0, 4)}…${t.slice(-4)} `));
		for (let [n, r] of [["Your leases", "renters"], ["Your nodes", "suppliers"]]) {
			let i = b("a", n);
			i.href = `/${r}/${t}`, e.append(i, " ");
		}
		return;
	}
	let n = t.filter(y);
	if (n.length === 0) {
		e.append(b("span", "No Solana wallet found in this browser"));
		return;
	}
	for (let r of n) {
		let n = b("button", `Connect ${r.name}`);
		n.type = "button", n.addEventListener("click", () => C(e, t, r, !1).catch((t) => e.append(b("span", `Could not connect: ${t.message}`)))), e.append(n);
	}
	let r = n.find((e) => e.name === sessionStorage.getItem(S));
	r && C(e, t, r, !0).catch(() => sessionStorage.removeItem(S));
}
var S = "iomesh-wallet";
async function C(e, t, n, r) {
	let { accounts: i } = await n.features[g].connect({ silent: r }), a = i.find((e) => e.chains.includes(_)) ?? i[0];
	if (!a) throw Error("the wallet shared no account");
	v = {
		wallet: n,
		account: a
	}, sessionStorage.setItem(S, n.name), x(e, t), document.dispatchEvent(new CustomEvent("iomesh:wallet"));
}
var w = (e) => Uint8Array.from(atob(e), (e) => e.charCodeAt(0)), T = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
function E(e) {
	let t = 0n;
	for (let n of e) t = t * 256n + BigInt(n);
	let n = "";
	for (; t > 0n;) n = T[Number(t % 58n)] + n, t /= 58n;
	for (let t of e) {
		if (t !== 0) break;
		n = "1" + n;
	}
	return n;
}
async function D(e, t) {
	if (!v) throw Error("connect a wallet first");
	let { wallet: n, account: r } = v, i = await fetch(e, {
		method: "POST",
		headers: { "content-type": "application/json" },
		body: JSON.stringify({ account: r.address })
	}), a = await i.json();
	if (!i.ok) throw Error(a.message ?? `the server answered ${i.status}`);
	let [o] = await n.features[h].signAndSendTransaction({
		account: r,
		chain: t,
		transaction: w(a.transaction)
	});
	return {
		message: String(a.message),
		signature: E(o.signature)
	};
}
function O(e) {
	let t = e.querySelector("button[type=\"submit\"]"), n = e.querySelector("[data-rent-status]"), r = () => {
		t.disabled = v === null, t.title = v ? "" : "Connect a wallet first";
	};
	r(), document.addEventListener("iomesh:wallet", r), e.addEventListener("submit", async (i) => {
		if (i.preventDefault(), !v) return;
		let a = new URLSearchParams();
		for (let t of [
			"hours",
			"gpus",
			"mint",
			"job_spec"
		]) a.set(t, String(new FormData(e).get(t) ?? ""));
		n.setAttribute("role", "status"), n.textContent = "Building the transaction… then approve it in your wallet", t.disabled = !0;
		try {
			let { message: t, signature: r } = await D(`${e.dataset.action}?${a}`, e.dataset.chain ?? _), i = t.match(/^Lease (\w+):/)?.[1] ?? "?";
			n.textContent = `Lease ${i} created (transaction ${r}). ${t}`, n.dataset.lease = i;
		} catch (e) {
			n.setAttribute("role", "alert"), n.textContent = `Not rented: ${e.message}`;
		} finally {
			r();
		}
	});
}
function k(e) {
	let t = e.querySelector("button"), n = e.querySelector("[data-cancel-status]"), r = () => {
		t.disabled = v === null;
	};
	r(), document.addEventListener("iomesh:wallet", r), e.addEventListener("submit", async (i) => {
		i.preventDefault(), t.disabled = !0, n.setAttribute("role", "status"), n.textContent = " approve it in your wallet…";
		try {
			let { signature: t } = await D(e.dataset.action, e.dataset.chain ?? _);
			n.textContent = ` Cancelled (transaction ${t})`, n.dataset.cancelled = "true";
		} catch (e) {
			n.setAttribute("role", "alert"), n.textContent = ` Not cancelled: ${e.message}`, r();
		}
	});
}
var A = document.querySelector("[data-wallet]");
if (A) {
	let { get: e, on: t } = c();
	x(A, e()), t("register", () => x(A, e()));
}
var j = document.querySelector("form[data-rent]");
j && O(j), document.querySelectorAll("form[data-cancel]").forEach(k);
