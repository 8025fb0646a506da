// The pages' one source of user-facing text: a catalogue per language (shared/i18n/<lang>.js,
// flat keys), Indonesian by default, chosen from navigator.languages unless the visitor picked
// one with the switch (kept in localStorage). Static text is marked in the HTML with
// data-i18n="key" (text) and data-i18n-attr="attr:key;attr:key" (attributes); scripts call
// t(key, params). Changing the language re-applies both and tells the pages (onLanguageChange).
import en from "./i18n/en.js";
import id from "./i18n/id.js";

export const CATALOGUES = { id, en };
export const LANGUAGES = ["id", "en"];
export const DEFAULT_LANGUAGE = "id";
const STORAGE_KEY = "karcis.lang";
const listeners = new Set();
let current = null;

/** The language to use: the visitor's choice, else the first of navigator.languages we have,
 * else Indonesian. */
export function pickLanguage(stored, preferred) {
  if (LANGUAGES.includes(stored)) return stored;
  for (const tag of preferred || []) {
    const primary = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return DEFAULT_LANGUAGE;
}

function storedChoice() {
  try {
    return globalThis.localStorage?.getItem(STORAGE_KEY) ?? null;
  } catch {
    return null; // storage blocked: the browser's languages decide
  }
}

export function language() {
  current ??= pickLanguage(storedChoice(), globalThis.navigator?.languages);
  return current;
}

/** Fills `{name}` placeholders of a catalogue text. */
export function interpolate(text, params = {}) {
  return text.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
}

/** The text of `key` in the current language (or `lang`), with `{name}` placeholders filled. */
export function t(key, params, lang = language()) {
  const text = CATALOGUES[lang][key];
  if (typeof text !== "string") {
    console.error(`i18n: no "${key}" in ${lang}`);
    return key;
  }
  return interpolate(text, params);
}

/** Whether the current catalogue has `key` (for codes that come from a server). */
export function has(key) {
  return typeof CATALOGUES[language()][key] === "string";
}

/** An error whose message is a catalogue key: shown in whatever language is current. */
export class I18nError extends Error {
  constructor(key, params, title) {
    super(key);
    this.key = key;
    this.params = params;
    this.title = title; // the key of its heading, if not the form's
  }
}

/** Translates the marked elements under `root`. */
export function applyStatic(root = document) {
  document.documentElement.lang = language();
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":").map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
  for (const b of document.querySelectorAll("[data-lang-choice]")) {
    b.setAttribute("aria-pressed", String(b.dataset.langChoice === language()));
  }
}

export function onLanguageChange(fn) {
  listeners.add(fn);
}

/** Switches language, remembers the choice, re-renders. */
export function setLanguage(lang) {
  if (!LANGUAGES.includes(lang)) return;
  current = lang;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    /* not remembered: storage blocked */
  }
  applyStatic();
  for (const fn of listeners) fn(lang);
}

/** The visible switch: one button per language, named in its own language. Placed in the
 * element marked data-lang-switch (the header). */
export function mountSwitch() {
  for (const host of document.querySelectorAll("[data-lang-switch]")) {
    host.replaceChildren(...LANGUAGES.map((lang) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "lang";
      b.dataset.langChoice = lang;
      b.lang = lang;
      b.textContent = t(`lang.${lang}`, {}, lang);
      b.addEventListener("click", () => setLanguage(lang));
      return b;
    }));
    host.setAttribute("role", "group");
    host.setAttribute("data-i18n-attr", "aria-label:lang.switch");
  }
}

/** Call once per page, before rendering anything. */
export function initI18n() {
  mountSwitch();
  applyStatic();
}
