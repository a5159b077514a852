// Every UI string of the dashboard, in English, Finnish, Swedish, Norwegian
// (bokmål) and Russian. Country and language names, dates and "5 min ago"
// come from the browser's Intl, so they are not listed here.
//
// The strings themselves are in lang/<code>.js, one file per language.
//
// t(key, params) looks a key up in the chosen language, falls back to
// English, and fills {name} placeholders. Elements with data-i18n="key"
// (text) or data-i18n-attr="attr:key,attr:key" are translated by apply().

import en from './lang/en.js';
import fi from './lang/fi.js';
import sv from './lang/sv.js';
import nb from './lang/nb.js';
import ru from './lang/ru.js';

export const LANGUAGES = [
  { code: 'en', name: 'English' },
  { code: 'fi', name: 'Suomi' },
  { code: 'sv', name: 'Svenska' },
  { code: 'nb', name: 'Norsk (bokmål)' },
  { code: 'ru', name: 'Русский' },
];

const STRINGS = { en, fi, sv, nb, ru };

let current = 'en';

export function supported(code) {
  return Object.prototype.hasOwnProperty.call(STRINGS, code);
}

export function setLanguage(code) {
  current = supported(code) ? code : 'en';
  document.documentElement.lang = current;
}

export function language() {
  return current;
}

// The Intl locale for a UI language (Norwegian bokmål is "nb").
export function locale() {
  return current;
}

export function t(key, params) {
  let s = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

// Keys present in English but missing in another language (tests use it).
export function missingKeys() {
  const out = {};
  for (const code of Object.keys(STRINGS)) {
    const missing = Object.keys(STRINGS.en).filter((k) => !(k in STRINGS[code]));
    if (missing.length) out[code] = missing;
  }
  return out;
}

export function apply(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(',')) {
      const [attr, key] = pair.split(':');
      el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}
