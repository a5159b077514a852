// Every UI string of the dashboard, in English, Finnish, Swedish, Norwegian
// (bokmål) and Russian. Country and language names, dates and "5 min ago"
// come from the browser's Intl, so they are not listed here.
//
// The strings themselves are in lang/<code>.js, one file per language.
//
// t(key, params) looks a key up in the chosen language, falls back to
// English, and fills {name} placeholders. A string that counts something is
// an object of the language's plural forms ({one, few, many, other}, as
// Intl.PluralRules names them), chosen by params.n: Finnish says
// "1 harjoittelupaikka" but "2 harjoittelupaikkaa", Russian has three forms. Elements with data-i18n="key"
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

// The number a plural form is chosen by. Callers often pass n already
// formatted for the reader ("1 234"), so the digits are read back.
function countOf(n) {
  return typeof n === 'number' ? n : Number(String(n).replace(/[^\d]/g, ''));
}

function pluralForm(forms, params, lang) {
  if (typeof forms === 'string') return forms;
  const n = params && 'n' in params ? countOf(params.n) : NaN;
  const form = Number.isFinite(n) ? new Intl.PluralRules(lang).select(n) : 'other';
  return forms[form] ?? forms.other;
}

export function t(key, params) {
  const own = STRINGS[current][key];
  let s = own !== undefined ? pluralForm(own, params, current) : pluralForm(STRINGS.en[key] ?? key, params, 'en');
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

// Keys present in English but missing in another language, and plural
// forms a language needs but a counting string lacks ("key:few"); tests
// use it.
export function missingKeys() {
  const out = {};
  for (const code of Object.keys(STRINGS)) {
    const missing = Object.keys(STRINGS.en).filter((k) => !(k in STRINGS[code]));
    const forms = new Intl.PluralRules(code).resolvedOptions().pluralCategories;
    for (const [k, v] of Object.entries(STRINGS[code]))
      if (typeof v === 'object') missing.push(...forms.filter((f) => !(f in v)).map((f) => `${k}:${f}`));
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
