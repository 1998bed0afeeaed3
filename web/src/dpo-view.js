// The DPO's views: audit events with filters, in names and local time, each
// shown only after it is proven to be in the signed log (web/src/audit.js);
// an exchange's whole timeline; its deletion receipt checked in the page and
// saved for offline checking (`xgw audit receipt`); what is on screen as CSV.
import { api, ApiError } from "./api.js";
import {
  AuditFailure, openCheckpoint, parseVerifierKey, proveEvent, verifyConsistency, verifyReceipt,
} from "./audit.js";
import { t } from "./i18n.js";
import { explain, formatTime, h, message, saveBytes } from "./ui.js";
import { parseSubjectKey, subjectLookupValue } from "./subject.js";
import { base64ToBytes } from "./verify.js";

const kPinnedKey = "xgw.audit.verifier-key";
const kLastCheckpoint = "xgw.audit.checkpoint";

async function text(path, method = "GET") {
  const r = await fetch(path, { method, credentials: "same-origin",
    headers: method === "GET" ? {} : { "X-CSRF-Token": sessionStorage.getItem("xgw.csrf") || "" } });
  if (!r.ok) throw new ApiError(r.status, {});
  return r.text();
}

// The gateway's verifier key, pinned in this browser at first use: a key
// that changes afterwards is a failure, not a new trust.
async function pinnedVerifier() {
  const offered = parseVerifierKey(await text("/api/v1/audit/verifier-key"));
  const pinned = localStorage.getItem(kPinnedKey);
  if (pinned && pinned !== offered.text) throw new AuditFailure("verifier-changed");
  if (!pinned) localStorage.setItem(kPinnedKey, offered.text);
  return offered;
}

// A checkpoint signed now, consistent with the last one this browser saw.
async function verifiedHead(verifier) {
  const head = openCheckpoint(await text("/api/v1/audit/checkpoint", "POST"), verifier);
  const last = JSON.parse(localStorage.getItem(kLastCheckpoint) || "null");
  if (last && last.size > head.size) throw new AuditFailure("log-shrank");
  if (last && last.size > 0) {
    const proof = await api("GET", `/api/v1/audit/proofs/consistency?first=${last.size}&second=${head.size}`);
    if (!verifyConsistency(last.size, head.size, base64ToBytes(last.root), head.root, proof.hashes.map(base64ToBytes))) {
      throw new AuditFailure("log-rewritten");
    }
  }
  localStorage.setItem(kLastCheckpoint, JSON.stringify({ size: head.size, root: btoa(String.fromCharCode(...head.root)) }));
  return head;
}

function named(names, id) {
  return (id && names && names[id]) || id || "";
}

function eventRow(p, names) {
  const e = p.event;
  const actor = e.actor.id ? `${named(names, e.actor.id)} (${named(names, e.actor.org)})` : t(`audit.actor.${e.actor.type}`);
  return {
    index: p.index,
    time: formatTime(e.time),
    action: e.action,
    actor,
    exchange: e.exchange || "",
    user: named(names, e.user),
    outcome: e.outcome,
    reason: e.reason || "",
    count: e.count || 1,
  };
}

function csvOf(rows) {
  const quote = (v) => `"${String(v).replace(/"/g, '""')}"`;
  const keys = ["index", "time", "action", "actor", "exchange", "user", "outcome", "reason", "count"];
  return [keys.join(","), ...rows.map((r) => keys.map((k) => quote(r[k])).join(","))].join("\r\n") + "\r\n";
}

const kFilters = ["action", "exchange", "user", "since", "until"];

export async function auditView(params, show) {
  const form = h("form", { class: "filters", id: "audit-filters", onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const k of kFilters) if (form.elements[k].value) q.set(k, form.elements[k].value.trim());
    location.hash = `#/audit/${q}`;
  } },
    kFilters.map((k) => h("label", {}, t(`audit.filter.${k}`),
      h("input", { name: k, value: params.get(k) || "", placeholder: t(`audit.placeholder.${k}`) }))),
    h("button", { type: "submit" }, t("audit.apply")));
  const status = h("div", { "aria-live": "polite" }, message("good", t("audit.verifying")));
  show(t("audit.heading"), h("p", {}, h("a", { href: "#/subject", id: "subject-link" }, t("subject.heading"))), form, status);

  let verifier;
  let head;
  try {
    verifier = await pinnedVerifier();
    head = await verifiedHead(verifier);
  } catch (e) {
    return status.replaceChildren(message("bad", e instanceof AuditFailure ? t(`audit.error.${e.code}`) : explain(e)));
  }
  const query = new URLSearchParams();
  for (const k of kFilters) if (params.get(k)) query.set(k, params.get(k));
  query.set("tree_size", String(head.size));
  query.set("limit", "200");
  let page;
  let rows;
  try {
    page = await api("GET", `/api/v1/audit/events?${query}`);
    rows = page.items.map((item) => eventRow(proveEvent(item, head), page.names));
  } catch (e) {
    // Nothing of a page is shown unless all of it is proven.
    const what = e instanceof AuditFailure ? t(`audit.error.${e.code}`, { index: e.index }) : explain(e);
    return status.replaceChildren(message("bad", what));
  }
  const table = h("table", { id: "audit" },
    h("thead", {}, h("tr", {}, ["index", "time", "action", "actor", "exchange", "user", "outcome", "reason"].map((k) =>
      h("th", { scope: "col" }, t(`audit.col.${k}`))))),
    h("tbody", {}, rows.map((r) => h("tr", {},
      h("td", {}, r.index), h("td", {}, r.time), h("td", {}, r.action), h("td", {}, r.actor),
      h("td", {}, r.exchange ? h("a", { href: `#/audit/exchange=${r.exchange}` }, r.exchange) : ""),
      h("td", {}, r.user), h("td", {}, r.outcome), h("td", {}, r.count > 1 ? `${r.reason} ×${r.count}` : r.reason)))));
  const parts = [
    message("good", t("audit.verified", { count: rows.length, size: head.size })),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", id: "audit-csv", onclick: () =>
        saveBytes(new TextEncoder().encode(csvOf(rows)), "xgw-audit-events.csv", "text/csv") }, t("audit.csv"))),
    rows.length ? h("div", { class: "table-scroll" }, table) : h("p", {}, t("audit.none")),
  ];
  if (page.next) parts.push(h("p", { class: "muted" }, t("audit.more")));
  const exchange = params.get("exchange");
  if (exchange && rows.some((r) => r.action.startsWith("exchange.deleted"))) {
    parts.push(await receiptPart(exchange, verifier));
  }
  status.replaceChildren(...parts);
}

async function receiptPart(exchange, verifier) {
  try {
    const receipt = await api("GET", `/api/v1/exchanges/${exchange}/receipt`);
    const checked = verifyReceipt(receipt, verifier);
    return h("div", { id: "receipt" },
      message("good", t("audit.receipt.ok", { when: formatTime(checked.event.time), size: checked.checkpoint.size })),
      h("button", { type: "button", class: "secondary", id: "receipt-save", onclick: () =>
        saveBytes(new TextEncoder().encode(JSON.stringify(receipt, null, 2) + "\n"), `xgw-deletion-receipt-${exchange}.json`,
          "application/json") }, t("audit.receipt.save")));
  } catch (e) {
    return message("bad", e instanceof AuditFailure ? t("audit.error.receipt") : explain(e));
  }
}

// Which lists held one person, and who opened them: the number is turned
// into its keyed fingerprint here, with the organisation's subject-index key
// read from a file in this page; only the fingerprint goes to the gateway.
export function subjectView(show) {
  const status = h("div", { "aria-live": "polite", id: "subject-status" });
  const form = h("form", { class: "card", id: "subject", onsubmit: async (e) => {
    e.preventDefault();
    const file = form.elements.key.files[0];
    const raw = form.elements.number.value;
    form.elements.number.value = "";
    const key = file ? parseSubjectKey(new Uint8Array(await file.arrayBuffer())) : null;
    if (!key) return status.replaceChildren(message("bad", t("subject.badkey")));
    const value = await subjectLookupValue(key, form.elements.type.value, raw);
    key.fill(0);
    if (!value) return status.replaceChildren(message("bad", t("subject.badnumber")));
    try {
      const { items } = await api("GET", `/api/v1/subject-index/${value}`);
      if (items.length === 0) return status.replaceChildren(message("good", t("subject.none")));
      status.replaceChildren(message("good", t("subject.found", { count: items.length })),
        h("table", { id: "subject-hits" },
          h("thead", {}, h("tr", {}, ["subject.list", "inbox.protocol", "sent.sent", "inbox.state", "subject.downloads"].map((k) =>
            h("th", { scope: "col" }, t(k))))),
          h("tbody", {}, items.map((x) => h("tr", {},
            h("td", {}, h("a", { href: `#/audit/exchange=${x.id}` }, x.id)),
            h("td", {}, x.protocol_id),
            h("td", {}, formatTime(x.created_at)),
            h("td", {}, x.deleted_at ? t("subject.deleted", { when: formatTime(x.deleted_at) }) : t(`state.${x.state}`)),
            h("td", {}, (x.downloads || []).length === 0 ? t("subject.never")
              : h("ul", {}, x.downloads.map((d) => h("li", {}, t("subject.download",
                { who: d.name || d.user, org: d.organisation_name || d.organisation || "", when: formatTime(d.time) }))))))))));
    } catch (err) {
      status.replaceChildren(message("bad", explain(err)));
    }
  } },
    h("p", {}, t("subject.explain")),
    h("label", {}, t("subject.key"), h("input", { type: "file", name: "key" })),
    h("label", {}, t("subject.type"), h("select", { name: "type" },
      h("option", { value: "be_national_number" }, t("subject.rrn")),
      h("option", { value: "nl_bsn" }, t("subject.bsn")))),
    h("label", {}, t("subject.number"), h("input", { name: "number", autocomplete: "off", required: true })),
    h("button", { type: "submit" }, t("subject.find")));
  show(t("subject.heading"), h("p", {}, h("a", { href: "#/audit/" }, t("nav.audit"))), form, status);
}
