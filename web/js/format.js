// Locale-aware formatting through the browser's Intl (and a table only for
// the Sami languages, which it may not name), and the small DOM helper every view uses.
import { locale, t } from './i18n.js';

const cache = new Map();
function cached(kind, make) {
  const key = kind + '|' + locale();
  let v = cache.get(key);
  if (!v) {
    try {
      v = make(locale());
    } catch {
      v = make('en');
    }
    cache.set(key, v);
  }
  return v;
}

// API dates are "YYYY-MM-DD" calendar days; they are handled as UTC midnight
// so no time zone can shift a day.
export function parseDay(s) {
  if (typeof s !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return NaN;
  return Date.UTC(+s.slice(0, 4), +s.slice(5, 7) - 1, +s.slice(8, 10));
}

export const DAY_MS = 86400000;

export function formatDay(ms) {
  const f = cached('day', (l) => new Intl.DateTimeFormat(l, { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }));
  return Number.isFinite(ms) ? f.format(ms) : '?';
}

// Formatting is far slower than a Map lookup, and thousands of windows
// share a few hundred distinct dates: memoise per locale.
const memo = new Map();
function remember(kind, key, make) {
  const k = kind + '|' + locale() + '|' + key;
  let v = memo.get(k);
  if (v === undefined) {
    v = make();
    if (memo.size > 50000) memo.clear();
    memo.set(k, v);
  }
  return v;
}

export function formatRange(startMs, endMs) {
  return remember('range', startMs + ':' + endMs, () => formatRangeNow(startMs, endMs));
}

function formatRangeNow(startMs, endMs) {
  const f = cached('range', (l) => new Intl.DateTimeFormat(l, { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }));
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs)) return formatDay(startMs) + ' – ' + formatDay(endMs);
  return typeof f.formatRange === 'function' ? f.formatRange(startMs, endMs) : formatDay(startMs) + ' – ' + formatDay(endMs);
}

export function formatMonth(ms) {
  const f = cached('month', (l) => new Intl.DateTimeFormat(l, { month: 'short', year: 'numeric', timeZone: 'UTC' }));
  return f.format(ms);
}

export function countryName(code) {
  if (!code) return '';
  return remember('country', code, () => countryNameNow(code));
}

function countryNameNow(code) {
  const d = cached('region', (l) => new Intl.DisplayNames([l, 'en'], { type: 'region' }));
  try {
    return d.of(code) || code;
  } catch {
    return code;
  }
}

export function languageName(code) {
  if (!code) return '';
  return remember('language', code, () => languageNameNow(code));
}

// The Sami languages of the Barents region, which a browser's own tables
// may not name (Debian's Chromium showed "se (se)" in every language).
const SAMI = {
  se: { en: 'Northern Sami', fi: 'pohjoissaame', sv: 'nordsamiska', nb: 'nordsamisk', ru: 'северносаамский' },
  smn: { en: 'Inari Sami', fi: 'inarinsaame', sv: 'enaresamiska', nb: 'enaresamisk', ru: 'инари-саамский' },
  sms: { en: 'Skolt Sami', fi: 'koltansaame', sv: 'skoltsamiska', nb: 'skoltesamisk', ru: 'колтта-саамский' },
  sma: { en: 'Southern Sami', fi: 'eteläsaame', sv: 'sydsamiska', nb: 'sørsamisk', ru: 'южносаамский' },
  smj: { en: 'Lule Sami', fi: 'luulajansaame', sv: 'lulesamiska', nb: 'lulesamisk', ru: 'луле-саамский' },
};

function languageNameNow(code) {
  const d = cached('language', (l) => new Intl.DisplayNames([l, 'en'], { type: 'language' }));
  let name = code;
  try {
    name = d.of(code) || code;
  } catch {
    // an invalid code is shown as it is
  }
  const sami = SAMI[code.toLowerCase()];
  if (sami && name.toLowerCase() === code.toLowerCase()) return sami[locale().slice(0, 2)] || sami.en;
  return name;
}

export function relativeTime(ms, now = Date.now()) {
  if (!ms) return t('never');
  const f = cached('rel', (l) => new Intl.RelativeTimeFormat(l, { numeric: 'auto', style: 'short' }));
  const s = Math.round((ms - now) / 1000);
  const a = Math.abs(s);
  if (a < 60) return f.format(s, 'second');
  if (a < 3600) return f.format(Math.round(s / 60), 'minute');
  if (a < 86400) return f.format(Math.round(s / 3600), 'hour');
  return f.format(Math.round(s / 86400), 'day');
}

export function formatNumber(n) {
  return cached('num', (l) => new Intl.NumberFormat(l)).format(n);
}

// Picks the text in the viewer's language, else English, else the first.
export function localised(texts, lang) {
  if (!Array.isArray(texts) || texts.length === 0) return '';
  const pick = (l) => texts.find((x) => x && x.lang === l && x.text);
  return (pick(lang) || pick('en') || texts.find((x) => x && x.text) || {}).text || '';
}

// ISO week number, for the timeline's header.
export function isoWeek(ms) {
  const d = new Date(ms);
  const day = (d.getUTCDay() + 6) % 7;
  const thursday = ms + (3 - day) * DAY_MS;
  const yearStart = Date.UTC(new Date(thursday).getUTCFullYear(), 0, 1);
  return 1 + Math.floor((thursday - yearStart) / (7 * DAY_MS));
}

export function mondayOf(ms) {
  const day = (new Date(ms).getUTCDay() + 6) % 7;
  return ms - day * DAY_MS;
}

// h('td', {class: 'x', dataset: {id}}, 'text', child): a DOM element. Attribute
// values are set as properties or attributes, never parsed as HTML, so record
// contents cannot inject markup.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'style') el.style.cssText = v; // one parse per element: inline styles are not cheap
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
