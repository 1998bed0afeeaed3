// The page's words in Dutch, French and English (web/src/messages/*.js), the
// language chosen by the person or their browser. Messages name rows,
// columns and rules, never a value from a list.
import en from "./messages/en.js";
import fr from "./messages/fr.js";
import nl from "./messages/nl.js";

const messages = { en, nl, fr };

export const languages = { nl: "Nederlands", fr: "Français", en: "English" };

function initialLanguage() {
  const saved = localStorage.getItem("xgw.lang");
  if (saved && messages[saved]) return saved;
  for (const l of navigator.languages || [navigator.language || "en"]) {
    const base = l.slice(0, 2).toLowerCase();
    if (messages[base]) return base;
  }
  return "en";
}

let current = initialLanguage();

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!messages[lang]) return;
  current = lang;
  localStorage.setItem("xgw.lang", lang);
  document.documentElement.lang = lang;
}

export function t(key, vars = {}) {
  const text = messages[current][key] ?? messages.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}
