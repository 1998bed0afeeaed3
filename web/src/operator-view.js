// The operator's views: the gateway's health; organisations (create); their
// people (create, invite with a one-time code, reset MFA, unlock, disable,
// enable); protocols (propose from a JSON file with every problem shown at
// its path, accept for a party, activate, suspend, terminate). The same
// API and the same audit as `xgw org`, `xgw user`, `xgw protocol`.
import { api, ApiError } from "./api.js";
import { t } from "./i18n.js";
import { explain, formatTime, h, message } from "./ui.js";

function problemOf(e) {
  if (e instanceof ApiError) return t("error.api", { title: e.problem.detail || e.problem.title || e.status });
  return explain(e);
}

// Runs `action`, redraws the view with `after`, then says what happened in
// the element with id `statusId` (the redrawn one).
async function act(statusId, action, done, after) {
  const say = (node) => document.getElementById(statusId).replaceChildren(node);
  try {
    const result = await action();
    if (after) await after();
    say(message("good", typeof done === "function" ? done(result) : done));
  } catch (e) {
    say(message("bad", problemOf(e)));
  }
}

function confirmThen(text, action) {
  return () => {
    const dialog = h("dialog", { id: "confirm-dialog", "aria-labelledby": "confirm-title" },
      h("h2", { id: "confirm-title" }, t("admin.confirm")),
      h("p", {}, text),
      h("div", { class: "actions" },
        h("button", { type: "button", id: "confirm-yes", onclick: () => { dialog.close(); action(); } }, t("admin.yes")),
        h("button", { type: "button", class: "secondary", onclick: () => dialog.close() }, t("unlock.cancel"))));
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  };
}

function adminNav() {
  return h("p", { class: "actions" },
    h("a", { href: "#/admin" }, t("admin.orgs")), " ",
    h("a", { href: "#/admin/protocols" }, t("admin.protocols")));
}

export async function organisationsView(show) {
  const [health, { items }] = await Promise.all([
    fetch("/healthz").then((r) => r.json()).catch(() => ({ status: "unreachable" })),
    api("GET", "/api/v1/orgs"),
  ]);
  const status = h("div", { "aria-live": "polite", id: "orgs-status" });
  const form = h("form", { class: "card", id: "new-org", onsubmit: (e) => {
    e.preventDefault();
    const body = { name: form.elements.name.value.trim(), time_zone: form.elements.tz.value.trim() || "Europe/Brussels" };
    if (form.elements.number.value.trim()) body.enterprise_number = form.elements.number.value.trim();
    act("orgs-status", () => api("POST", "/api/v1/orgs", body), (org) => t("admin.org.created", { name: org.name }),
      () => organisationsView(show));
  } },
    h("h2", {}, t("admin.org.new")),
    h("label", {}, t("admin.org.name"), h("input", { name: "name", required: true, maxlength: 200 })),
    h("label", {}, t("admin.org.number"), h("input", { name: "number" })),
    h("label", {}, t("admin.org.tz"), h("input", { name: "tz", value: "Europe/Brussels" })),
    h("button", { type: "submit" }, t("admin.create")));
  show(t("admin.orgs"), adminNav(),
    message(health.status === "ok" ? "good" : "bad", t(`admin.health.${health.status === "ok" ? "ok" : "bad"}`)),
    h("div", { class: "table-scroll" }, h("table", { id: "orgs" },
      h("thead", {}, h("tr", {}, ["admin.org.name", "admin.org.number", "admin.org.tz", "admin.created", "admin.people"].map((k) =>
        h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, items.map((o) => h("tr", {},
        h("td", {}, o.name), h("td", {}, o.enterprise_number || ""), h("td", {}, o.time_zone),
        h("td", {}, formatTime(o.created_at)),
        h("td", {}, h("a", { href: `#/admin/org/${o.id}`, "aria-label": t("admin.people.of", { name: o.name }) }, t("admin.people")))))))),
    status, form);
}

export async function peopleView(orgId, show) {
  const [{ items: orgs }, { items: people }] = await Promise.all([api("GET", "/api/v1/orgs"), api("GET", `/api/v1/orgs/${orgId}/users`)]);
  const org = orgs.find((o) => o.id === orgId) || { name: orgId };
  const accounts = await Promise.all(people.map((p) =>
    api("GET", `/api/v1/users/${p.id}/account`).catch(() => null)));
  const status = h("div", { "aria-live": "polite", id: "people-status" });
  const redraw = () => peopleView(orgId, show);
  const rows = people.map((p, i) => {
    const a = accounts[i];
    const state = !a ? t("admin.account.none") : a.disabled ? t("admin.account.disabled") : a.locked ? t("admin.account.locked")
      : t(`admin.account.${a.state}`);
    const invite = h("form", { class: "inline", onsubmit: (e) => {
      e.preventDefault();
      const signin = invite.elements.signin.value.trim();
      act("people-status", () => api("POST", `/api/v1/users/${p.id}/invitations`, { signin_name: signin }),
        (r) => t("admin.invited", { name: p.display_name, signin: r.signin_name || signin, code: r.code }), redraw);
    } },
      h("input", { name: "signin", required: true, "aria-label": t("admin.signin.for", { name: p.display_name }),
        placeholder: t("admin.signin"), value: a && a.signin_name ? a.signin_name : "" }),
      h("button", { type: "submit", class: "secondary" }, t("admin.invite")));
    const post = (what) => () => act("people-status", () => api("POST", `/api/v1/users/${p.id}/${what}`, {}),
      t(`admin.done.${what}`, { name: p.display_name }), redraw);
    return h("tr", {},
      h("td", {}, p.display_name),
      h("td", {}, (p.roles || []).join(", ")),
      h("td", {}, p.keys ? h("code", {}, p.keys.fingerprint) : t("admin.nokey")),
      h("td", {}, state),
      h("td", {}, invite,
        a ? h("span", { class: "actions" },
          h("button", { type: "button", class: "secondary", onclick: confirmThen(t("admin.confirm.mfa-reset", { name: p.display_name }), post("mfa-reset")) }, t("admin.mfa-reset")),
          a.locked ? h("button", { type: "button", class: "secondary", onclick: post("unlock") }, t("admin.unlock")) : null,
          a.disabled
            ? h("button", { type: "button", class: "secondary", onclick: post("enable") }, t("admin.enable"))
            : h("button", { type: "button", class: "secondary", onclick: confirmThen(t("admin.confirm.disable", { name: p.display_name }), post("disable")) }, t("admin.disable")))
          : null));
  });
  const form = h("form", { class: "card", id: "new-person", onsubmit: (e) => {
    e.preventDefault();
    const roles = form.elements.roles.value.split(",").map((r) => r.trim()).filter(Boolean);
    act("people-status", () => api("POST", `/api/v1/orgs/${orgId}/users`, { display_name: form.elements.name.value.trim(), roles }),
      (u) => [t("admin.person.created", { name: u.display_name }), ...(u.warnings || [])].join(" "), redraw);
  } },
    h("h2", {}, t("admin.person.new")),
    h("label", {}, t("admin.person.name"), h("input", { name: "name", required: true, maxlength: 200 })),
    h("label", {}, t("admin.person.roles"), h("input", { name: "roles", placeholder: "sender, dpo, social-worker-…" })),
    h("button", { type: "submit" }, t("admin.create")));
  show(t("admin.people.of", { name: org.name }), adminNav(),
    h("div", { class: "table-scroll" }, h("table", { id: "people" },
      h("thead", {}, h("tr", {}, ["admin.person.name", "admin.roles", "admin.key", "admin.account", "admin.actions"].map((k) =>
        h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, rows))),
    status, form);
}

export async function protocolsView(show) {
  const [{ items }, { items: orgs }] = await Promise.all([api("GET", "/api/v1/protocols"), api("GET", "/api/v1/orgs")]);
  const status = h("div", { "aria-live": "polite", id: "protocols-status" });
  const redraw = () => protocolsView(show);
  const post = (p, what, body, done) => () => act("protocols-status",
    () => api("POST", `/api/v1/protocols/${encodeURIComponent(p.id)}/${what}`, body), done, redraw);
  const rows = items.map((p) => {
    const acceptFor = h("select", { "aria-label": t("admin.accept.for", { id: p.id }) },
      orgs.map((o) => h("option", { value: o.id }, o.name)));
    return h("tr", {},
      h("td", {}, p.id), h("td", {}, p.title || ""), h("td", {}, p.state),
      h("td", {}, (p.acceptances || []).length + " / " + (p.parties || []).length),
      h("td", {}, h("span", { class: "actions" },
        acceptFor,
        h("button", { type: "button", class: "secondary", onclick: () =>
          post(p, "accept", { organisation: acceptFor.value }, t("admin.accepted", { id: p.id }))() }, t("admin.accept")),
        h("button", { type: "button", class: "secondary", onclick: post(p, "activate", {}, t("admin.activated", { id: p.id })) }, t("admin.activate")),
        h("button", { type: "button", class: "secondary", onclick: confirmThen(t("admin.confirm.suspend", { id: p.id }),
          post(p, "suspend", {}, t("admin.suspended", { id: p.id }))) }, t("admin.suspend")),
        h("button", { type: "button", class: "secondary", onclick: confirmThen(t("admin.confirm.terminate", { id: p.id }),
          post(p, "terminate", {}, t("admin.terminated", { id: p.id }))) }, t("admin.terminate")))));
  });
  const file = h("input", { type: "file", name: "protocol", id: "protocol-file", accept: ".json,application/json" });
  const form = h("form", { class: "card", id: "propose", onsubmit: async (e) => {
    e.preventDefault();
    if (!file.files[0]) return;
    const text = await file.files[0].text();
    const r = await fetch("/api/v1/protocols", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": sessionStorage.getItem("xgw.csrf") || "" }, body: text });
    const doc = await r.json().catch(() => ({}));
    if (r.ok) {
      await redraw();
      return document.getElementById("protocols-status").replaceChildren(message("good", t("admin.proposed", { id: doc.id, state: doc.state })));
    }
    const problems = Array.isArray(doc.problems) ? doc.problems : [];
    status.replaceChildren(message("bad", t("error.api", { title: doc.detail || doc.title || r.status })),
      problems.length ? h("table", { id: "protocol-problems" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("admin.problem.path")), h("th", { scope: "col" }, t("admin.problem.reason")))),
        h("tbody", {}, problems.map((p) => h("tr", {}, h("td", {}, h("code", {}, p.path)), h("td", {}, p.reason))))) : null);
  } },
    h("h2", {}, t("admin.propose")),
    h("label", {}, t("admin.propose.file"), file),
    h("button", { type: "submit" }, t("admin.propose.submit")));
  show(t("admin.protocols"), adminNav(),
    items.length ? h("div", { class: "table-scroll" }, h("table", { id: "protocols" },
      h("thead", {}, h("tr", {}, ["admin.protocol.id", "admin.protocol.title", "admin.protocol.state", "admin.protocol.acceptances",
        "admin.actions"].map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, rows))) : h("p", {}, t("admin.protocols.none")),
    status, form);
}
