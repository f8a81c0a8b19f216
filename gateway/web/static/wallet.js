// dataledger wallet: EIP-1193 / EIP-6963 wallets, Sign-In with Ethereum, and the actions of the
// pages (hand-written, no libraries, no CDN: works offline). The gateway prepares every action
// (encoded and simulated as the signed-in account, refusals decoded before the wallet is asked);
// the wallet signs (EIP-712 for relayed requests and orders) or sends (plain transactions); the
// page follows /v1/tx/{hash} until the index has the event, then reloads from the index.
(function () {
  "use strict";

  var S = { errors: {}, ui: {}, advice: {}, restrictions: {}, roles: {}, statuses: {}, checks: {} };
  var providers = [];          // EIP-6963 announcements: {info, provider}
  var wallet = null;           // the chosen EIP-1193 provider
  var chain = null;            // /v1/actions/chain
  var session = null;          // /v1/actions/session
  var boundProvider = null;

  function $(id) { return document.getElementById(id); }
  function fmt(text, values) {
    return String(text || "").replace(/\{(\w+)\}/g, function (m, k) {
      return values && values[k] !== undefined && values[k] !== null ? String(values[k]) : m;
    });
  }
  function ui(key, values) { return fmt(S.ui[key] || key, values); }
  function errorText(name, values, reason) {
    var v = Object.assign({ reason: reason || "" }, values || {});
    var tpl = S.errors[name];
    if (tpl) return fmt(tpl, v);
    return (name ? name + ": " : "") + (reason || "");
  }

  // ------------------------------------------------------------ HTTP

  function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (t) {
        var data = null;
        try { data = t ? JSON.parse(t) : null; } catch (e) { data = { error: "HTTPError", reason: t }; }
        if (!r.ok) {
          var err = new Error((data && data.reason) || ("HTTP " + r.status));
          err.api = data || {}; err.status = r.status;
          throw err;
        }
        return data;
      });
    });
  }

  // ------------------------------------------------------------ messages

  function say(text, kind) {
    var el = $("wallet-message");
    if (!el) return;
    el.hidden = !text; el.textContent = text || ""; el.dataset.kind = kind || "info";
  }

  function describe(err) {
    if (!err) return "";
    if (err.walletCode === 4001 || err.code === 4001) return errorText("WalletRejected");
    if (err.local) return errorText(err.local, err.values);
    if (err.api) {
      var a = err.api, values = a.values || {};
      var reason = a.error === "TransferRestricted" && S.restrictions[String(values.code)] ? S.restrictions[String(values.code)] : a.reason;
      var text = errorText(a.error, values, reason);
      if (values.advice) text += " " + ui("whatToDo") + ": " + (S.advice[String(values.code)] || values.advice);
      if (values.frozen_reason) text += " " + ui("frozenReason", { reason: values.frozen_reason });
      return text;
    }
    return err.message || String(err);
  }
  // the contract's restriction reason in the page's language (by code), else as the API gave it
  function restrictionText(v) { return S.restrictions[String(v.code)] || v.message || ""; }
  function localError(name, values) { var e = new Error(name); e.local = name; e.values = values || {}; return e; }

  // ------------------------------------------------------------ EIP-6963 discovery, EIP-1193

  window.addEventListener("eip6963:announceProvider", function (ev) {
    var d = ev.detail;
    if (!d || !d.provider || !d.info) return;
    if (providers.some(function (p) { return p.info.uuid === d.info.uuid; })) return;
    providers.push({ info: d.info, provider: d.provider });
  });
  function discover() { window.dispatchEvent(new Event("eip6963:requestProvider")); }

  function rpc(method, params) {
    if (!wallet) return Promise.reject(localError("NoWallet"));
    return wallet.request({ method: method, params: params || [] }).catch(function (e) {
      var err = new Error((e && e.message) || String(e));
      err.walletCode = e && e.code; throw err;
    });
  }

  function bind(provider) {
    if (boundProvider === provider || !provider.on) return;
    boundProvider = provider;
    document.documentElement.dataset.walletBound = "1";  // the wallet's events are heard from now on
    provider.on("accountsChanged", function (accounts) {
      var now = (accounts && accounts[0] || "").toLowerCase();
      if (session && session.signed_in && session.address.toLowerCase() !== now) {
        api("POST", "/v1/auth/logout").catch(function () {}).then(function () {
          sessionStorage.setItem("wallet-flash", JSON.stringify({ state: "info", text: ui("accountChanged") }));
          location.reload();
        });
      }
    });
    provider.on("chainChanged", function () { checkChain().catch(function () {}); });
    provider.on("disconnect", function () { say(ui("disconnected"), "error"); wallet = null; refreshBar(); });
  }

  function choose() {
    discover();
    return new Promise(function (resolve, reject) {
      setTimeout(function () {
        var list = providers.slice();
        if (!list.length && window.ethereum) list.push({ info: { name: "window.ethereum", uuid: "legacy", rdns: "" }, provider: window.ethereum });
        if (!list.length) { reject(localError("NoWallet")); return; }
        var remembered = localStorage.getItem("wallet-rdns");
        var pick = list.length === 1 ? list[0] : list.filter(function (p) { return p.info.rdns && p.info.rdns === remembered; })[0];
        if (pick) { resolve(pick); return; }
        var box = $("wallet-chooser");
        box.innerHTML = ""; box.hidden = false;
        var h = document.createElement("p"); h.textContent = ui("choose"); box.appendChild(h);
        list.forEach(function (p) {
          var b = document.createElement("button");
          b.type = "button"; b.className = "wallet-option"; b.dataset.rdns = p.info.rdns || "";
          if (p.info.icon && /^data:image\//.test(p.info.icon)) {
            var img = document.createElement("img"); img.src = p.info.icon; img.alt = ""; img.width = 20; img.height = 20; b.appendChild(img);
          }
          b.appendChild(document.createTextNode(" " + p.info.name));
          b.addEventListener("click", function () { box.hidden = true; resolve(p); });
          box.appendChild(b);
        });
      }, 60);
    });
  }

  function connect() {
    return choose().then(function (p) {
      wallet = p.provider; bind(wallet);
      if (p.info.rdns) localStorage.setItem("wallet-rdns", p.info.rdns);
      return rpc("eth_requestAccounts");
    }).then(function (accounts) {
      if (!accounts || !accounts.length) throw localError("NoWallet");
      return checkChain().then(function () { refreshBar(); return accounts[0]; });
    });
  }

  function chainParams(address) {
    return api("GET", "/v1/actions/chain" + (address ? "?address=" + encodeURIComponent(address) : ""))
      .then(function (c) { chain = c; return c; });
  }

  // resolves with the chain id when the wallet is on the deployment's chain; rejects WrongChain
  function checkChain() {
    return (chain ? Promise.resolve(chain) : chainParams()).then(function () {
      return rpc("eth_chainId");
    }).then(function (hex) {
      var actual = parseInt(hex, 16), el = $("wallet-chain");
      if (actual !== chain.chain_id) {
        el.hidden = false; el.dataset.state = "wrong"; el.innerHTML = "";
        el.appendChild(document.createTextNode(ui("wrongChain", { actual: actual, expected: chain.chain_id }) + " "));
        var b = document.createElement("button"); b.type = "button"; b.id = "wallet-switch"; b.textContent = ui("switchChain");
        b.addEventListener("click", switchChain); el.appendChild(b);
        throw localError("WrongChain", { actual: actual, expected: chain.chain_id });
      }
      el.hidden = true; el.dataset.state = "ok"; el.textContent = "";
      return actual;
    });
  }

  function switchChain() {
    return rpc("wallet_switchEthereumChain", [{ chainId: chain.chain_id_hex }]).catch(function (e) {
      if (e.walletCode !== 4902) throw e;
      return rpc("wallet_addEthereumChain", [{ chainId: chain.chain_id_hex, chainName: chain.chain_name,
        rpcUrls: chain.rpc_urls, nativeCurrency: chain.native_currency }]);
    }).then(checkChain).then(function () { say(""); }).catch(function (e) { say(describe(e), "error"); });
  }

  // ------------------------------------------------------------ Sign-In with Ethereum

  function iso(ms) { return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z"); }
  function utf8Hex(text) {
    var bytes = new TextEncoder().encode(text), out = "0x";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  function signIn() {
    var btn = $("wallet-signin"); btn.disabled = true; say(ui("signingIn"));
    var account, nonce;
    return (wallet ? rpc("eth_requestAccounts").then(function (a) { return checkChain().then(function () { return a[0]; }); }) : connect())
      .then(function (a) { account = a; return chainParams(a); })
      .then(function (c) { account = c.checksum; return api("GET", "/v1/auth/nonce"); })
      .then(function (n) {
        nonce = n;
        var now = Date.now();
        var message = [n.domain + " wants you to sign in with your Ethereum account:", account, "",
          "Sign in to the dataledger gateway.", "", "URI: " + n.uri, "Version: 1", "Chain ID: " + chain.chain_id,
          "Nonce: " + n.nonce, "Issued At: " + iso(now), "Expiration Time: " + iso(now + 10 * 60 * 1000)].join("\n");
        return rpc("personal_sign", [utf8Hex(message), account]).then(function (sig) {
          return api("POST", "/v1/auth/login", { message: message, signature: sig });
        });
      })
      .then(function () { say(""); return loadSession(); })
      .then(function () { if (location.pathname === "/me") location.reload(); })
      .catch(function (e) { say(describe(e), "error"); })
      .then(function () { btn.disabled = false; });
  }

  function signOut() {
    return api("POST", "/v1/auth/logout").catch(function () {}).then(function () { location.reload(); });
  }

  function loadSession() {
    return api("GET", "/v1/actions/session").then(function (s) { session = s; refreshBar(); return s; })
      .catch(function () { session = null; refreshBar(); });
  }

  function refreshBar() {
    var signed = !!(session && session.signed_in);
    var el = $("wallet-session");
    if (!el) return;
    $("wallet-connect").hidden = signed || !!wallet;
    $("wallet-signin").hidden = signed;
    $("wallet-signout").hidden = !signed;
    $("wallet-me").hidden = !signed;
    el.hidden = !signed;
    if (signed) {
      var org = session.organisation;
      var orgName = org ? (org.name || (org.org_id.slice(0, 10) + "…")) + " (" + org.jurisdiction + ")" : "";
      el.textContent = orgName + " · " + (session.roles.map(function (r) { return S.roles[r] || r; }).join(", ") || S.statuses[session.status] || session.status) + " · ";
      // the account itself: a secondary raw value beside the organisation's name
      var raw = document.createElement("span"); raw.className = "raw";
      raw.textContent = session.address.slice(0, 6) + "…" + session.address.slice(-4);
      el.appendChild(raw);
      el.title = session.address;
      el.dataset.address = session.address;
    }
  }

  // ------------------------------------------------------------ actions

  function setStatus(el, state, text, txHash) {
    if (!el) return;
    el.dataset.state = state; el.className = "status state-" + state; el.innerHTML = "";
    var label = document.createElement("strong");
    label.textContent = ({ pending: ui("pending"), confirmed: ui("confirmed"), refused: ui("refused") })[state] || "";
    if (label.textContent) { el.appendChild(label); el.appendChild(document.createTextNode(" ")); }
    el.appendChild(document.createTextNode(text || ""));
    if (txHash) {
      el.appendChild(document.createTextNode(" "));
      var a = document.createElement("a"); a.href = "/tx/" + txHash; a.className = "tx-link"; a.textContent = txHash.slice(0, 12) + "…";
      el.appendChild(a);
    }
  }

  // the wallet must be connected, on the deployment's chain, and on the signed-in account
  function ready() {
    if (!session || !session.signed_in) return Promise.reject(localError("NotSignedIn"));
    return (wallet ? Promise.resolve() : connect().then(function () {})).then(function () {
      return checkChain();
    }).then(function () { return rpc("eth_accounts"); }).then(function (accounts) {
      var a = (accounts && accounts[0] || "").toLowerCase();
      if (a !== session.address.toLowerCase()) throw localError("WrongAccount", { actual: a, expected: session.address });
      return session.address;
    });
  }

  function poll(hash, onDone) {
    var tries = 0;
    function again() {
      tries++;
      api("GET", "/v1/tx/" + hash).then(function (s) {
        if (s.state === "indexed") onDone(null, s);
        else if (s.state === "reverted") onDone(s.revert ? { api: s.revert } : new Error(ui("reverted")), s);
        else if (tries < 240) setTimeout(again, 500);
        else onDone(new Error(ui("sent")), s);
      }).catch(function () { if (tries < 240) setTimeout(again, 1000); });
    }
    again();
  }

  function lock(form, on) {
    form.dataset.busy = on ? "1" : "";
    form.querySelectorAll("button").forEach(function (b) { if (on) { b.dataset.was = b.disabled ? "1" : ""; b.disabled = true; } else { b.disabled = b.dataset.was === "1"; } });
  }

  // prepare -> sign or send -> relay -> follow; the form is locked the whole time (no double send)
  function run(form, action, params, extra) {
    var status = form.querySelector(".status");
    if (form.dataset.busy === "1") return Promise.resolve();
    lock(form, true);
    setStatus(status, "pending", ui("checking"));
    var prepared;
    return ready().then(function () {
      return extra && extra.before ? extra.before(params) : params;
    }).then(function (p) {
      return api("POST", "/v1/actions/prepare", { action: action, params: p });
    }).then(function (prep) {
      prepared = prep;
      setStatus(status, "pending", ui("waitWallet"));
      return submit(prep);
    }).then(function (sent) {
      follow(status, sent.tx_hash, prepared.summary, form);
    }).catch(function (e) {
      setStatus(status, "refused", describe(e));
      lock(form, false);
    });
  }

  function submit(prep) {
    if (prep.kind === "forward") {
      return rpc("eth_signTypedData_v4", [session.address, JSON.stringify(prep.typed_data)]).then(function (sig) {
        var body = Object.assign({}, prep.request, { signature: sig });
        return api("POST", "/v1/relay/forward", body);
      });
    }
    return rpc("eth_sendTransaction", [prep.tx]).then(function (hash) { return { tx_hash: hash }; });
  }

  function follow(status, hash, summary, form, after) {
    setStatus(status, "pending", ui("sent"), hash);
    poll(hash, function (err, s) {
      if (err) { setStatus(status, "refused", describe(err), hash); lock(form, false); return; }
      setStatus(status, "confirmed", summary + " — " + ui("indexed"), hash);
      if (after) { after(s); return; }
      sessionStorage.setItem("wallet-flash", JSON.stringify({ state: "confirmed", text: summary, tx: hash }));
      setTimeout(function () { location.reload(); }, 300);
    });
  }

  function fields(form) {
    var out = {};
    new FormData(form).forEach(function (v, k) { if (typeof v === "string" && k !== "role" && k !== "pair") out[k] = v.trim(); });
    return out;
  }

  function storeDocument(kind, text) { return api("POST", "/v1/documents", { kind: kind, text: text }); }

  // ---- transfer: the restriction verdict first, then the signature
  function checkRecipient(form) {
    var p = fields(form), box = form.querySelector(".verdict"), go = form.querySelector(".go");
    go.disabled = true; box.hidden = false; box.textContent = ui("checking"); box.dataset.state = "checking";
    return api("GET", "/v1/vouchers/" + p.voucher_id + "/restriction?to=" + encodeURIComponent(p.to)).then(function (v) {
      box.innerHTML = ""; box.dataset.state = v.allowed ? "allowed" : "restricted"; box.dataset.code = v.code;
      var head = document.createElement("strong");
      head.textContent = (v.allowed ? ui("allowed") : ui("restricted")) + " (" + v.code + " " + v.name + ")";
      box.appendChild(head);
      box.appendChild(document.createTextNode(" " + restrictionText(v)));
      if (v.frozen_reason) { var fr = document.createElement("div"); fr.className = "frozen-reason"; fr.textContent = ui("frozenReason", { reason: v.frozen_reason }); box.appendChild(fr); }
      if (!v.allowed) {
        var adv = document.createElement("div"); adv.className = "advice";
        adv.textContent = ui("whatToDo") + ": " + (S.advice[String(v.code)] || v.advice); box.appendChild(adv);
      }
      if (v.clearance) {
        var b = document.createElement("button"); b.type = "button"; b.className = "prefill-clearance"; b.textContent = ui("requestClearance");
        b.addEventListener("click", function () {
          var f = $("request-clearance"); if (!f) return;
          f.elements.asset_id.value = v.clearance.asset_id; f.elements.destination.value = v.clearance.destination;
          f.elements.recipient.value = v.clearance.recipient; f.scrollIntoView(); f.elements.purpose.focus();
        });
        box.appendChild(b);
      }
      go.disabled = !v.allowed;
      go.title = v.allowed ? "" : restrictionText(v) + (v.frozen_reason ? " — " + v.frozen_reason : "");
      return v;
    }).catch(function (e) { box.dataset.state = "error"; box.textContent = describe(e); });
  }

  // ---- orders: the maker signs EIP-712; the signed order goes to the exchange
  function myOrdersKey() { return "wallet-orders-" + (session && session.address || "").toLowerCase(); }
  function showOrders() {
    var table = $("my-orders"); if (!table || !session) return;
    var orders = JSON.parse(localStorage.getItem(myOrdersKey()) || "[]");
    orders.forEach(function (so) {
      var o = so.order, tr = document.createElement("tr"); tr.id = "order-" + o.nonce;
      [o.side === 0 ? "sell" : "buy", o.voucherId, o.price, o.nonce].forEach(function (x) {
        var td = document.createElement("td"); td.textContent = String(x); tr.appendChild(td);
      });
      var td = document.createElement("td"), ta = document.createElement("textarea");
      ta.readOnly = true; ta.rows = 2; ta.cols = 40; ta.className = "signed-order"; ta.value = JSON.stringify(so); td.appendChild(ta); tr.appendChild(td);
      var td2 = document.createElement("td"), b = document.createElement("button");
      b.type = "button"; b.textContent = ui("cancel"); b.className = "cancel-order";
      b.addEventListener("click", function () { var f = $("cancel-order"); f.elements.nonce.value = o.nonce; f.requestSubmit(); });
      td2.appendChild(b); tr.appendChild(td2); table.appendChild(tr);
    });
  }

  function signOrder(form) {
    var p = fields(form), status = form.querySelector(".status");
    if (form.dataset.busy === "1") return;
    lock(form, true); setStatus(status, "pending", ui("waitWallet"));
    ready().then(function () {
      return api("POST", "/v1/actions/order", { side: parseInt(p.side, 10), voucher_id: parseInt(p.voucher_id, 10),
        price: parseInt(p.price, 10), exchange: p.exchange });
    }).then(function (d) {
      return rpc("eth_signTypedData_v4", [session.address, JSON.stringify(d.typed_data)]).then(function (sig) {
        var signed = { order: d.order, signature: sig, chainId: d.chainId, settlement: d.settlement };
        var all = JSON.parse(localStorage.getItem(myOrdersKey()) || "[]"); all.push(signed);
        localStorage.setItem(myOrdersKey(), JSON.stringify(all));
        setStatus(status, "confirmed", ui("signedOrder"));
        var ta = document.createElement("textarea"); ta.readOnly = true; ta.rows = 4; ta.cols = 50;
        ta.className = "signed-order"; ta.value = JSON.stringify(signed); status.appendChild(ta);
      });
    }).catch(function (e) { setStatus(status, "refused", describe(e)); }).then(function () { lock(form, false); });
  }

  // ---- the exchange's settlement console
  var settlePrepared = null, settlePair = null;
  function pairFrom(form) {
    var file = form.elements.pair && form.elements.pair.files && form.elements.pair.files[0];
    var read = file ? file.text().then(function (t) { var j = JSON.parse(t); form.elements.sell.value = JSON.stringify(j.sell); form.elements.buy.value = JSON.stringify(j.buy); return j; })
      : Promise.resolve({ sell: JSON.parse(form.elements.sell.value), buy: JSON.parse(form.elements.buy.value) });
    return read;
  }
  function checkPair(form) {
    var table = $("settle-checks"), go = form.querySelector(".go"), status = form.querySelector(".status");
    go.disabled = true; settlePrepared = null;
    return pairFrom(form).then(function (pair) {
      settlePair = pair;
      // each check's detail in the page's language (names, ¥, +08:00), its raw values beside it in the API
      return api("POST", "/v1/actions/settlement/check?lang=" + encodeURIComponent(document.documentElement.lang || "en"), pair);
    }).then(function (r) {
      table.hidden = false; table.innerHTML = "";
      r.checks.forEach(function (c) {
        var tr = document.createElement("tr"); tr.className = c.ok ? "check-ok" : "check-fail";
        [c.ok ? "✓" : "✗", S.checks[c.name] || c.name, c.detail].forEach(function (x) { var td = document.createElement("td"); td.textContent = x; tr.appendChild(td); });
        table.appendChild(tr);
      });
      table.dataset.ok = r.ok ? "1" : "0";
      setStatus(status, r.ok ? "" : "refused", r.ok ? ui("allChecksPass") : ui("someChecksFail"));
      settlePrepared = r.ok ? r.prepared : null; go.disabled = !r.ok;
    }).catch(function (e) { setStatus(status, "refused", e instanceof SyntaxError ? errorText("ValidationError", {}, e.message) : describe(e)); });
  }
  function settle(form) {
    var status = form.querySelector(".status");
    if (!settlePrepared || form.dataset.busy === "1") return;
    lock(form, true); setStatus(status, "pending", ui("waitWallet"));
    ready().then(function () {
      return rpc("eth_signTypedData_v4", [session.address, JSON.stringify(settlePrepared.typed_data)]);
    }).then(function (sig) {
      return api("POST", "/v1/relay/settlements", { sell: settlePair.sell, buy: settlePair.buy,
        request: Object.assign({}, settlePrepared.request, { signature: sig }) });
    }).then(function (sent) {
      follow(status, sent.tx_hash, settlePrepared.summary, form, function (s) {
        var r = document.createElement("div"); r.id = "settle-receipt"; r.className = "receipt";
        r.appendChild(document.createTextNode("block " + s.block_number + " · "));
        var a = document.createElement("a"); a.href = "/trades/" + sent.trade_id; a.id = "settle-trade"; a.textContent = ui("trade") + " " + sent.trade_id.slice(0, 12) + "…";
        r.appendChild(a); status.appendChild(r);
      });
    }).catch(function (e) { setStatus(status, "refused", describe(e)); lock(form, false); });
  }

  function wire(form) {
    var flow = form.dataset.flow, action = form.dataset.action;
    if (flow === "transfer") {
      form.querySelector(".check").addEventListener("click", function () { if (form.reportValidity()) checkRecipient(form); });
      form.elements.to.addEventListener("input", function () { form.querySelector(".go").disabled = true; });
    }
    if (flow === "settle") form.querySelector(".check").addEventListener("click", function () { checkPair(form); });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var p = fields(form);
      if (flow === "transfer") {
        // the verdict is re-read right before signing
        checkRecipient(form).then(function (v) { if (v && v.allowed) run(form, "transfer", { voucher_id: p.voucher_id, to: p.to }); });
      } else if (flow === "redeem") {
        run(form, "redeem", { voucher_id: p.voucher_id }, { before: function () {
          return storeDocument("purpose", p.purpose).then(function (d) {
            return { voucher_id: p.voucher_id, purpose_hash: d.sha256, purpose_cid: d.cid };
          });
        } });
      } else if (flow === "order") {
        signOrder(form);
      } else if (flow === "clearance") {
        run(form, "request_clearance", p, { before: function () {
          return storeDocument("purpose", p.purpose).then(function (d) {
            return { asset_id: p.asset_id, destination: p.destination, recipient: p.recipient, purpose_cid: d.cid };
          });
        } });
      } else if (flow === "approve_clearance") {
        var expiry = Math.floor(Date.parse(p.expiry + "T23:59:59Z") / 1000);
        run(form, "approve_clearance", { clearance_id: p.clearance_id, expiry: expiry }, { before: function (q) {
          if (!p.conditions) return q;
          return storeDocument("conditions", p.conditions).then(function (d) { return Object.assign({}, q, { conditions_cid: d.cid }); });
        } });
      } else if (flow === "regulate") {
        var op = ev.submitter && ev.submitter.value;
        var q = { voucher_id: p.voucher_id, reason: p.reason };
        if (op === "propose_recovery") q.to = p.to;
        run(form, op, q);
      } else if (flow === "add_account") {
        var roles = 0;
        form.querySelectorAll("input[name=role]:checked").forEach(function (c) { roles |= parseInt(c.value, 10); });
        run(form, "add_account", { account: p.account, roles: roles });
      } else if (flow === "settle") {
        settle(form);
      } else if (action) {
        if (p.allowed !== undefined) p.allowed = p.allowed === "true";
        run(form, action, p);
      }
    });
  }

  function flash() {
    var raw = sessionStorage.getItem("wallet-flash");
    if (!raw) return;
    sessionStorage.removeItem("wallet-flash");
    var f = JSON.parse(raw), main = document.querySelector("main");
    var el = document.createElement("div"); el.id = "wallet-flash"; el.className = "note flash"; el.dataset.state = f.state;
    setStatus(el, f.state, f.text, f.tx); el.id = "wallet-flash";
    main.insertBefore(el, main.firstChild);
  }

  function init() {
    try { var s = JSON.parse(($("wallet-strings") || {}).textContent || "{}"); S.errors = s.errors || {}; S.ui = s.ui || {}; S.advice = s.advice || {}; S.restrictions = s.restrictions || {}; S.roles = s.roles || {}; S.statuses = s.statuses || {}; S.checks = s.checks || {}; } catch (e) {}
    discover();
    flash();
    var c = $("wallet-connect");
    if (!c) return;
    c.addEventListener("click", function () { connect().catch(function (e) { say(describe(e), "error"); }); });
    $("wallet-signin").addEventListener("click", signIn);
    $("wallet-signout").addEventListener("click", signOut);
    document.querySelectorAll("form.act").forEach(wire);
    loadSession().then(function () {
      showOrders();
      // a signed-in page re-attaches to the remembered wallet without prompting (eth_accounts)
      if (session && session.signed_in) {
        setTimeout(function () {
          var remembered = localStorage.getItem("wallet-rdns");
          var p = providers.filter(function (x) { return x.info.rdns === remembered; })[0] || providers[0];
          if (!p && window.ethereum) p = { provider: window.ethereum, info: {} };
          if (p) { wallet = p.provider; bind(wallet); refreshBar(); checkChain().catch(function () {}); }
        }, 80);
      }
    });
  }

  window.dataledgerWallet = { connect: connect, signIn: signIn, signOut: signOut, switchChain: switchChain };
  document.addEventListener("DOMContentLoaded", init);
})();
