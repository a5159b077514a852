// "Add a placement", "Edit" and "Close" for this node's own placements
// (DESIGN: a coordinator enters the placements the school or its partner
// companies offer, in the dashboard or with the CLI; `placement add|close`).
// Availability is the windows' capacities: one window a line, "START END
// CAPACITY". A window keeps its id when edited (reservations name it): the
// line with the same dates, else the same start, else the same position.
import * as api from './api.js';
import { h } from './format.js';
import { language, t } from './i18n.js';
import { languagesText, parseLanguages } from './mobility_model.js';
import { windowDates } from './bars.js';
import { checkboxSet, confirmAction, field, formDialog, formValues, input, select } from './ui.js';

const NAME_LANGS = ['en', 'fi', 'sv', 'nb', 'ru'];
export const SAFETY = ['ppe', 'safety_induction', 'medical_certificate', 'work_at_height', 'hot_work', 'machinery', 'minimum_age', 'other'];
const WINDOW_LINE = /^(\d{4}-\d{2}-\d{2})\s+(\d{4}-\d{2}-\d{2})\s+(\d+)$/;

export function windowsText(windows) {
  return windows.map((w) => `${w.start} ${w.end} ${w.capacity}`).join('\n');
}

// The windows of the text, with ids kept from `old`; throws a plain-words
// error naming the first line it cannot read.
export function parseWindows(text, old = []) {
  const lines = String(text || '').split('\n').map((l) => l.trim()).filter(Boolean);
  const parsed = lines.map((line, i) => {
    const m = WINDOW_LINE.exec(line.replace(/[;,]/g, ' ').replace(/\s+/g, ' '));
    if (!m) throw new Error(t('placement_window_bad', { n: i + 1, line }));
    return { start: m[1], end: m[2], capacity: Number(m[3]) };
  });
  if (parsed.length === 0) throw new Error(t('placement_windows_none'));
  const free = new Map(old.map((w) => [w.id, w]));
  const take = (pred) => {
    for (const [id, w] of free) if (pred(w)) return free.delete(id), id;
    return 0;
  };
  for (const w of parsed) w.window_id = take((o) => o.start === w.start && o.end === w.end);
  for (const w of parsed) if (!w.window_id) w.window_id = take((o) => o.start === w.start);
  parsed.forEach((w, i) => {
    if (!w.window_id && old[i] && free.has(old[i].id)) w.window_id = take((o) => o.id === old[i].id);
  });
  let next = Math.max(0, ...old.map((w) => w.id), ...parsed.map((w) => w.window_id)) + 1;
  for (const w of parsed) if (!w.window_id) w.window_id = next++;
  return parsed;
}

// Adds (p null) or edits one of this node's placements. ctx: { self(),
// orgOptions(keep), homeOrganisation() }. Resolves with the API's placement, or null.
export function placementDialog(ctx, p, opener) {
  const self = ctx.self();
  const own = ctx.orgOptions((o) => api.ownerOf(o.id) === self.id);
  const first = p && p.title.length ? p.title.find((x) => x.lang === language()) || p.title[0] : { lang: language(), text: '' };
  const editable = !p || p.status === 'draft' || p.status === 'open';
  return formDialog({
    title: p ? t('placement_edit') : t('placement_new'),
    submitLabel: t('save'),
    opener,
    build(body) {
      const host = select('host_organisation', own, p ? p.host : ctx.homeOrganisation());
      host.disabled = Boolean(p); // a placement stays with its host
      host.required = true;
      const windows = h('textarea', { name: 'windows', rows: Math.max(3, (p ? p.windows.length : 0) + 1), required: true, spellcheck: 'false' });
      windows.value = p ? windowsText(p.windows) : '';
      body.append(
        field(t('field_host_organisation'), host, own.length ? null : t('placement_no_own_org')),
        field(t('col_title'), input('title', 'text', first.text, { required: true, maxlength: 200 })),
        field(t('field_name_language'), select('title_lang', NAME_LANGS.map((l) => [l, l]), first.lang)),
        field(t('col_trade'), input('trade', 'text', p ? p.trade : '', { required: true, maxlength: 200 })),
        field(t('col_country'), input('country', 'text', p ? p.country : self.country, { required: true, maxlength: 2, pattern: '[A-Za-z]{2}', 'data-hint': 'hint_country' }), t('hint_country')),
        field(t('col_city'), input('city', 'text', p ? p.city : '', { maxlength: 200 })),
        field(t('col_windows'), windows, t('hint_windows')),
        field(t('field_languages'), input('languages', 'text', p ? languagesText(p.languages) : ''), t('hint_languages')),
        checkboxSet(t('col_safety'), 'safety', SAFETY.map((s) => [s, t('safety_' + s, { n: '' }).trim()]), p ? p.safety : []),
        field(t('field_minimum_age'), input('minimum_age', 'number', p && p.minimumAge ? p.minimumAge : '', { min: 0, max: 99 })),
        editable ? field(t('field_status'), select('status', ['open', 'draft'].map((s) => [s, t('status_' + s)]), p ? p.status : 'open')) : null,
      );
    },
    async submit(form) {
      const v = formValues(form);
      // The title in the chosen language replaces that language's, in place.
      const mine = { lang: v.title_lang, text: v.title };
      const titles = p ? p.title.map((x) => (x.lang === v.title_lang ? mine : x)) : [];
      if (!titles.some((x) => x.lang === v.title_lang)) titles.unshift(mine);
      const body = {
        title: titles,
        trade: v.trade.trim(),
        country: v.country.toUpperCase(),
        city: v.city || null,
        windows: parseWindows(v.windows, p ? p.windows : []),
        languages: parseLanguages(v.languages),
        safety: v.safety || [],
        minimum_age: v.minimum_age === '' ? null : Number(v.minimum_age),
      };
      if (editable) body.status = v.status;
      if (!p) {
        for (const [k, x] of Object.entries(body)) if (x === null) delete body[k];
        return api.request('POST', '/api/v1/placements', { host_organisation: v.host_organisation, ...body });
      }
      // A patch names only what changed (one that changes nothing is refused).
      const was = {
        title: p.title,
        trade: p.trade,
        country: p.country,
        city: p.city || null,
        windows: p.windows.map((w) => ({ start: w.start, end: w.end, capacity: w.capacity, window_id: w.id })),
        languages: p.languages,
        safety: p.safety,
        minimum_age: p.minimumAge || null,
        status: p.status,
      };
      const canon = (k, x) => JSON.stringify(Array.isArray(x) && k !== 'title' ? [...x].map((e) => (typeof e === 'object' ? JSON.stringify(e, Object.keys(e).sort()) : e)).sort() : x);
      for (const k of Object.keys(body)) if (canon(k, body[k]) === canon(k, was[k])) delete body[k];
      if (Object.keys(body).length === 0) return null;
      // A window removed, or cut below what is booked, strands the partners'
      // reservations on it (the node lets its owner do so): ask first,
      // naming the windows; declining writes nothing.
      if (body.windows) {
        const kept = new Map(body.windows.map((w) => [w.window_id, w]));
        const hit = p.windows.filter((w) => {
          const now = kept.get(w.id);
          return w.confirmed + w.pending > 0 && (!now || now.capacity < w.confirmed);
        });
        if (hit.length) {
          const list = hit.map((w) => t('placement_window_booked', { dates: windowDates(w), confirmed: w.confirmed, pending: w.pending })).join('; ');
          if (!(await confirmAction(t('placement_ask_booked', { windows: list }), t('save'), form.querySelector('button[type=submit]'))))
            throw new Error(t('placement_not_saved_booked'));
        }
      }
      return api.request('PATCH', `/api/v1/placements/${encodeURIComponent(p.id)}`, body);
    },
  });
}

// Closes one of this node's placements after an "are you sure?" naming it:
// it takes no more requests; confirmed reservations stay.
export async function closePlacement(p, title, opener) {
  if (!(await confirmAction(t('placement_ask_close', { title }), t('placement_close'), opener))) return null;
  return api.request('POST', `/api/v1/placements/${encodeURIComponent(p.id)}/close`, {});
}
