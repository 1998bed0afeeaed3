// The xgw web app: one page, views chosen by the location's hash. Every
// element is built with the DOM (never innerHTML), so nothing from the
// gateway or a list is ever read as markup.
import qrcode from "qrcode-generator";
import { api, ApiError, csrfToken, setCsrfToken } from "./api.js";
import { languages, language, setLanguage, t } from "./i18n.js";

import { beginView, session, explain, formatTime, h, message, saveBytes, show } from "./ui.js";
import { callWorker, forgetKeys, keysUnlocked, setKeysUnlocked } from "./worker-client.js";
import { auditView, subjectView } from "./dpo-view.js";
import { organisationsView, peopleView, protocolsView } from "./operator-view.js";
import { sentView } from "./sent-view.js";

function isOperator() {
  return (session.me.roles || []).includes("operator");
}

function mayAudit() {
  const roles = session.me.roles || [];
  return roles.includes("dpo") || roles.includes("operator");
}

// --- views ---------------------------------------------------------------

function renderNav() {
  const nav = document.getElementById("nav");
  nav.replaceChildren();
  if (session.me) {
    const links = [
      h("a", { href: "#/inbox" }, t("nav.inbox")),
      (session.me.roles || []).includes("sender") ? h("a", { href: "#/sent" }, t("nav.sent")) : null,
      h("a", { href: "#/key" }, t("nav.key")),
      mayAudit() ? h("a", { href: "#/audit/" }, t("nav.audit")) : null,
      isOperator() ? h("a", { href: "#/admin" }, t("nav.admin")) : null,
      h("span", { class: "muted" }, t("me.signedin", { name: session.me.display_name, org: session.me.organisation.name })),
      h("button", { class: "secondary", type: "button", onclick: signOut }, t("nav.signout")),
    ];
    nav.append(...links.filter(Boolean));
  }
  const select = h(
    "select",
    { id: "language", onchange: (e) => {
      setLanguage(e.target.value);
      // An opened list stays as it is (drawing it again would download it
      // again); its labels follow the language from the next view on.
      if (location.hash.startsWith("#/open/")) renderNav();
      else route();
    } },
    Object.entries(languages).map(([code, name]) => h("option", { value: code, selected: code === language() }, name)),
  );
  document.getElementById("lang").replaceChildren(h("label", { class: "inline" }, t("lang.label"), select));
}

function signInView(note, name) {
  const status = h("div", { "aria-live": "polite" }, note ? message(name ? "good" : "bad", note) : null);
  const form = h(
    "form",
    { class: "card", id: "signin", onsubmit: (e) => { e.preventDefault(); signIn(form, status); } },
    h("label", {}, t("signin.name"),
      h("input", { name: "name", autocomplete: "username", required: true, value: name })),
    h("label", {}, t("signin.password"),
      h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("label", {}, t("signin.code"),
      h("input", { name: "code", autocomplete: "one-time-code", inputmode: "numeric", required: true })),
    h("button", { type: "submit" }, t("signin.submit")),
  );
  show(t("signin.heading"), status, form, h("p", {}, h("a", { href: "#/enrol", id: "enrol-link" }, t("enrol.link"))));
}

// --- first run: enrolment with an invitation code, then a key -------------

function enrolView() {
  const status = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card", id: "enrol", onsubmit: async (e) => {
    e.preventDefault();
    const code = form.elements.code.value.trim();
    const password = form.elements.password.value;
    if (password !== form.elements.again.value) return status.replaceChildren(message("bad", t("enrol.mismatch")));
    if (new TextEncoder().encode(password).length < 12) return status.replaceChildren(message("bad", t("enrol.short")));
    try {
      const started = await api("POST", "/api/v1/auth/enrolment", { code, password });
      form.elements.password.value = form.elements.again.value = "";
      authenticatorView(code, started);
    } catch (err) {
      status.replaceChildren(message("bad", err.status === 401 ? t("enrol.badcode") : explain(err)));
    }
  } },
    h("p", {}, t("enrol.explain")),
    h("label", {}, t("enrol.code"), h("input", { name: "code", autocomplete: "off", required: true })),
    h("label", {}, t("enrol.password"),
      h("input", { name: "password", type: "password", autocomplete: "new-password", required: true, minlength: 12 })),
    h("label", {}, t("enrol.again"),
      h("input", { name: "again", type: "password", autocomplete: "new-password", required: true, minlength: 12 })),
    h("button", { type: "submit" }, t("enrol.next")));
  show(t("enrol.heading"), status, form);
}

// The otpauth:// URI as a QR code, drawn as one SVG path (no markup parsed).
function qrCodeOf(uri) {
  const qr = qrcode(0, "M");
  qr.addData(uri);
  qr.make();
  const n = qr.getModuleCount();
  let d = "";
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) if (qr.isDark(y, x)) d += `M${x + 4},${y + 4}h1v1h-1z`;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${n + 8} ${n + 8}`);
  svg.setAttribute("class", "qr");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("enrol.qr"));
  const background = document.createElementNS(svg.namespaceURI, "rect");
  background.setAttribute("width", "100%");
  background.setAttribute("height", "100%");
  background.setAttribute("fill", "#fff");
  const path = document.createElementNS(svg.namespaceURI, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "#000");
  svg.append(background, path);
  return svg;
}

function authenticatorView(code, started) {
  const status = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card", id: "enrol-confirm", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const done = await api("POST", "/api/v1/auth/enrolment/confirm",
        { code, totp_code: form.elements.totp.value.replace(/\s/g, "") });
      recoveryCodesView(done);
    } catch (err) {
      form.elements.totp.value = "";
      status.replaceChildren(message("bad", err.status === 401 ? t("enrol.badtotp") : explain(err)));
    }
  } },
    h("p", {}, t("enrol.scan")),
    qrCodeOf(started.otpauth_uri),
    h("p", {}, t("enrol.manual"), " ", h("code", { id: "totp-secret" }, started.totp_secret)),
    h("label", {}, t("signin.code"),
      h("input", { name: "totp", autocomplete: "one-time-code", inputmode: "numeric", required: true })),
    h("button", { type: "submit" }, t("enrol.confirm")));
  show(t("enrol.app.heading"), status, form);
}

function recoveryCodesView(done) {
  const text = done.recovery_codes.join("\n") + "\n";
  show(t("enrol.codes.heading"),
    h("p", {}, t("enrol.codes.explain")),
    h("ol", { id: "recovery-codes" }, done.recovery_codes.map((c) => h("li", {}, h("code", {}, c)))),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () =>
        saveBytes(new TextEncoder().encode(text), `xgw-recovery-codes-${done.signin_name}.txt`, "text/plain") },
      t("enrol.codes.save")),
      h("button", { type: "button", id: "enrol-done", onclick: () => {
        history.replaceState(null, "", location.pathname);  // no hashchange: it would redraw the form empty
        signInView(t("enrol.done"), done.signin_name);
      } }, t("enrol.codes.next"))));
}

// The person's key: made here when they have none; otherwise what it is.
async function keyView(show) {
  if (session.me.keys && session.me.key_backup) {
    return show(t("key.heading"), h("p", {}, t("key.kept")),
      h("p", {}, t("key.fingerprint"), " ", h("code", { id: "key-fingerprint" }, session.me.keys.fingerprint)));
  }
  if (session.me.keys) {
    return show(t("key.heading"), h("p", {}, t("key.cli")),
      h("p", {}, t("key.fingerprint"), " ", h("code", {}, session.me.keys.fingerprint)));
  }
  const status = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card", id: "create-key", onsubmit: async (e) => {
    e.preventDefault();
    const passphrase = form.elements.passphrase.value;
    const again = form.elements.again.value;
    form.elements.passphrase.value = form.elements.again.value = "";
    if (passphrase !== again) return status.replaceChildren(message("bad", t("key.mismatch")));
    if (passphrase.length < 12) return status.replaceChildren(message("bad", t("key.short")));
    status.replaceChildren(message("good", t("key.working")));
    try {
      const made = await callWorker("create", { passphrase });
      await api("PUT", `/api/v1/users/${session.me.id}/keys`,
        { age_recipient: made.age_recipient, ed25519_verify_key: made.ed25519_verify_key });
      await api("PUT", `/api/v1/users/${session.me.id}/key-backup`, { file: made.file });
      setKeysUnlocked();
      session.me = await api("GET", "/api/v1/me");
      keyMadeView(made);
    } catch (err) {
      forgetKeys();
      status.replaceChildren(message("bad", explain(err)));
    }
  } },
    h("p", {}, t("key.explain")),
    h("p", { class: "message" }, t("key.warning")),
    h("label", {}, t("key.passphrase"),
      h("input", { name: "passphrase", type: "password", autocomplete: "new-password", required: true, minlength: 12 })),
    h("label", {}, t("key.again"),
      h("input", { name: "again", type: "password", autocomplete: "new-password", required: true, minlength: 12 })),
    h("button", { type: "submit" }, t("key.create")));
  show(t("key.heading"), status, form);
}

function keyMadeView(made) {
  show(t("key.heading"),
    message("good", t("key.made")),
    h("p", {}, t("key.fingerprint"), " ", h("code", { id: "key-fingerprint" }, made.fingerprint)),
    h("p", {}, t("key.download.explain")),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "key-download", onclick: () =>
        saveBytes(new TextEncoder().encode(made.file), `xgw-key-${session.me.id}.age`, "application/octet-stream") },
      t("key.download")),
      h("a", { class: "button secondary", href: "#/inbox" }, t("nav.inbox"))));
}

async function signIn(form, status) {
  const f = new FormData(form);
  const code = String(f.get("code")).replace(/\s/g, "");
  const body = { name: f.get("name"), password: f.get("password"), client: "browser" };
  if (/^[0-9]{6}$/.test(code)) body.totp_code = code;
  else body.recovery_code = code;
  try {
    const opened = await api("POST", "/api/v1/auth/sessions", body);
    setCsrfToken(opened.csrf_token);
    session.me = await api("GET", "/api/v1/me");
    renderNav();
    // A person without a key makes one first: nothing can be sent to them before.
    location.hash = session.me.keys ? "#/inbox" : "#/key";
    route();
  } catch (e) {
    const wait = e instanceof ApiError && e.retryAfter;
    status.replaceChildren(message("bad", wait ? t("signin.wait", { seconds: e.retryAfter }) : t("signin.failed")));
    form.elements.password.value = "";
    form.elements.code.value = "";
  }
}

async function signOut() {
  try {
    await api("DELETE", "/api/v1/auth/sessions/current");
  } catch {
    // Signed out either way: the cookie is cleared or no longer valid.
  }
  forgetKeys();
  setCsrfToken("");
  session.me = null;
  renderNav();
  location.hash = "";
  signInView();
}

async function inboxView(show) {
  const { items } = await api("GET", "/api/v1/exchanges?box=inbox");
  if (items.length === 0) return show(t("inbox.heading"), h("p", {}, t("inbox.empty")));
  const rows = items.map((x) => {
    const sender = `${x.sender_user_name} (${x.sender_org_name})`;
    const when = formatTime(x.delivered_at || x.created_at);
    return h("tr", {},
      h("td", {}, sender),
      h("td", {}, x.protocol_id),
      h("td", {}, when),
      h("td", {}, x.rows ?? ""),
      h("td", {}, t(`state.${x.state}`)),
      h("td", {}, formatTime(x.expires_at)),
      h("td", {}, h("a", { class: "button", href: `#/open/${x.id}`, "aria-label": t("inbox.open.label", { sender, when }) },
        t("inbox.open"))));
  });
  show(t("inbox.heading"), h("div", { class: "table-scroll" }, h("table", { id: "inbox" },
    h("thead", {}, h("tr", {}, ["inbox.from", "inbox.protocol", "inbox.received", "inbox.rows", "inbox.state",
      "inbox.deleted", "inbox.open"].map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows))));
}

// Asks for the passphrase and unlocks the kept key in the worker; resolves
// once it is unlocked, or never (the person cancelled or has no backup).
function unlockView(heading, show) {
  return new Promise(async (resolve) => {
    let backup;
    try {
      backup = await api("GET", `/api/v1/users/${session.me.id}/key-backup`);
    } catch (e) {
      return show(heading, message("bad", e.status === 404 ? t("unlock.nobackup") : explain(e)));
    }
    const status = h("div", { "aria-live": "polite" });
    const form = h("form", { class: "card", id: "unlock", onsubmit: async (e) => {
      e.preventDefault();
      const passphrase = form.elements.passphrase.value;
      form.elements.passphrase.value = "";
      status.replaceChildren(message("good", t("open.working")));
      try {
        await callWorker("unlock", { file: backup.file, passphrase });
        setKeysUnlocked();
        resolve();
      } catch (err) {
        status.replaceChildren(message("bad", explain(err)));
      }
    } },
      h("p", {}, t("unlock.explain")),
      h("label", {}, t("unlock.passphrase"),
        h("input", { name: "passphrase", type: "password", autocomplete: "off", required: true })),
      h("div", { class: "actions" },
        h("button", { type: "submit" }, t("unlock.submit")),
        h("a", { class: "button secondary", href: "#/inbox" }, t("unlock.cancel"))));
    show(t("unlock.heading"), status, form);
  });
}

async function openView(id, show) {
  const meta = await api("GET", `/api/v1/exchanges/${id}`);
  const heading = t("open.heading", { sender: `${meta.sender_user_name} (${meta.sender_org_name})` });
  if (!keysUnlocked()) await unlockView(heading, show);
  show(heading, message("good", t("open.working")));
  let opened;
  try {
    opened = await callWorker("open", { id, csrf: csrfToken() });
  } catch (e) {
    return show(heading, message("bad", explain(e)), h("a", { href: "#/inbox" }, t("open.back")));
  }
  const { manifest, table, bytes } = opened;
  const parts = [message("good", t("open.verified", { rows: manifest.row_count, protocol: manifest.protocol_id }))];
  if (table && table.rows.length > 0) {
    const [header, ...body] = table.rows;
    if (table.dataRows > body.length) {
      parts.push(h("p", { class: "muted" }, t("open.shown", { shown: body.length, rows: table.dataRows })));
    }
    parts.push(h("div", { class: "table-scroll", tabindex: "0", role: "region", "aria-label": heading },
      h("table", { id: "list" },
        h("thead", {}, h("tr", {}, header.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, body.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))))));
  } else {
    parts.push(h("p", {}, t("open.xlsx")));
  }
  const ext = manifest.list_format === "xlsx" ? "xlsx" : "csv";
  const type = ext === "xlsx" ? "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" : "text/csv";
  const status = h("div", { "aria-live": "polite" });
  parts.push(h("div", { class: "actions" },
    h("button", { type: "button", id: "save", onclick: () => saveBytes(bytes, `${manifest.protocol_id}-${id}.${ext}`, type) },
      t("open.save")),
    h("button", { type: "button", id: "ack", class: "secondary", onclick: () => confirmAck(id, status) }, t("open.ack")),
    h("button", { type: "button", id: "report", class: "secondary", onclick: () => reportProblem(id, manifest, status) },
      t("report.open")),
    h("a", { class: "button secondary", href: "#/inbox" }, t("open.back"))), status);
  show(heading, ...parts);
}

// A recipient tells both DPOs what is wrong with a list: by kind, row and
// column, never by value (the gateway keeps only codes and numbers).
function reportProblem(id, manifest, status) {
  const form = h("form", { id: "report-form", method: "dialog" },
    h("h2", { id: "report-title" }, t("report.open")),
    h("p", {}, t("report.explain")),
    h("label", {}, t("report.kind"), h("select", { name: "kind" },
      ["content_not_allowed", "manifest_mismatch", "other"].map((k) => h("option", { value: k }, t(`report.kind.${k}`))))),
    h("label", {}, t("report.row"), h("input", { name: "row", inputmode: "numeric", pattern: "[0-9]*" })),
    h("label", {}, t("report.column"), h("select", { name: "column" }, h("option", { value: "" }, "—"),
      manifest.columns.map((c) => h("option", { value: c }, c)))),
    h("div", { class: "actions" },
      h("button", { type: "submit", id: "report-send" }, t("report.send")),
      h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, t("unlock.cancel"))));
  const dialog = h("dialog", { id: "report-dialog", "aria-labelledby": "report-title" }, form);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const kind = form.elements.kind.value;
    const detail = { code: kind };
    if (/^[1-9][0-9]*$/.test(form.elements.row.value)) detail.row = Number(form.elements.row.value);
    if (form.elements.column.value) detail.column = form.elements.column.value;
    dialog.close();
    try {
      await api("POST", `/api/v1/exchanges/${id}/violations`, { code: kind, details: [detail] });
      status.replaceChildren(message("good", t("report.done")));
    } catch (err) {
      status.replaceChildren(message("bad", explain(err)));
    }
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}


function confirmAck(id, status) {
  const dialog = h("dialog", { id: "ack-dialog", "aria-labelledby": "ack-title" },
    h("h2", { id: "ack-title" }, t("open.ack")),
    h("p", {}, t("ack.warning")),
    h("div", { class: "actions" },
      h("button", { type: "button", id: "ack-confirm", onclick: async () => {
        dialog.close();
        try {
          await api("POST", `/api/v1/exchanges/${id}/ack`, {});
          status.replaceChildren(message("good", t("ack.done")));
        } catch (e) {
          status.replaceChildren(message("bad", explain(e)));
        }
      } }, t("ack.confirm")),
      h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, t("unlock.cancel"))));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

// --- routing -------------------------------------------------------------

async function route() {
  renderNav();
  const [, view, id] = location.hash.split("/");
  if (!session.me) return view === "enrol" ? enrolView() : signInView();
  const drawn = beginView();
  try {
    if (view === "key") return await keyView(drawn);
    if (view === "admin" && isOperator()) {
      if (id === "protocols") return await protocolsView(drawn);
      const org = location.hash.split("/")[3];
      if (id === "org" && /^org-[a-z2-7]+$/.test(org || "")) return await peopleView(org, drawn);
      return await organisationsView(drawn);
    }
    if (view === "subject" && mayAudit()) return subjectView(drawn);
    if (view === "sent") return await sentView(drawn);
    if (view === "audit") return await auditView(new URLSearchParams(location.hash.slice("#/audit/".length)), drawn);
    if (view === "open" && /^exc-[a-z2-7]+$/.test(id || "")) return await openView(id, drawn);
    return await inboxView(drawn);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      session.me = null;
      forgetKeys();
      return signInView(t("error.signed-out"));
    }
    if (!(e instanceof ApiError)) console.error("xgw: view failed:", e && e.name);  // a bug: tests fail on it
    drawn(t("inbox.heading"), message("bad", explain(e)));
  }
}

async function start() {
  setLanguage(language());
  try {
    session.me = await api("GET", "/api/v1/me");
  } catch {
    session.me = null;
  }
  window.addEventListener("hashchange", route);
  route();
}

start();
