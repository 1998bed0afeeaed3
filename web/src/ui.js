// What every view of the page uses: elements built with the DOM (never
// innerHTML, so nothing from the gateway or a list is read as markup), the
// main area, messages, times in the person's organisation's time zone,
// errors in the person's language, saving bytes as a file.
import { ApiError } from "./api.js";
import { language, t } from "./i18n.js";

// The person signed in: GET /api/v1/me, or null.
export const session = { me: null };

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function show(title, ...nodes) {
  const main = document.getElementById("main");
  main.replaceChildren(h("h1", {}, title), ...nodes);
  document.title = `${title} · xgw`;
  main.focus();
}

let generation = 0;

// Starts a view: returns a `show` that draws only while no later view has
// started, so that a slow view (waiting for the gateway) never draws over
// the one the person moved on to.
export function beginView() {
  const mine = ++generation;
  return (title, ...nodes) => {
    if (mine === generation) show(title, ...nodes);
  };
}

export function message(kind, text) {
  return h("p", { class: `message ${kind}`, role: kind === "bad" ? "alert" : "status" }, text);
}

function locale() {
  return { nl: "nl-BE", fr: "fr-BE", en: "en-GB" }[language()];
}

// In the person's organisation's time zone, with its offset.
export function formatTime(iso) {
  if (!iso) return "";
  const me = session.me;
  const timeZone = (me && me.organisation && me.organisation.time_zone) || "Europe/Brussels";
  return new Intl.DateTimeFormat(locale(), {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone,
    timeZoneName: "shortOffset",
  }).format(new Date(iso));
}

export function explain(e) {
  if (e instanceof ApiError) return t("error.api", { title: e.problem.title || e.status });
  return t(`error.${e.code || "failed"}`);
}

export function saveBytes(bytes, name, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
