// A mobility's signed history (GET /api/v1/records/{id}/history) in plain
// words: who signed what and when, newest first, with whether each delta's
// own signature verifies here. Also finds when each confirmation was signed.
import { h, formatDay, languageName, parseDay } from './format.js';
import { t } from './i18n.js';
import { HOST_FIELDS, SENDING_FIELDS } from './mobility_model.js';

// Field number (proto order, from 1) -> name.
const SENDING_BY_NUMBER = SENDING_FIELDS.map(([name]) => name);
const HOST_BY_NUMBER = HOST_FIELDS.map(([name]) => name);

export function formatTime(iso) {
  const ms = Date.parse(iso || '');
  if (!Number.isFinite(ms)) return '';
  return new Intl.DateTimeFormat(document.documentElement.lang || 'en', { dateStyle: 'medium', timeStyle: 'short' }).format(ms);
}

// A field's value as words: dates in the reader's language, enums named.
export function valueText(name, v, refName) {
  if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) return t('value_none');
  if (typeof v === 'boolean') return t(v ? 'yes' : 'no');
  // 0 is "not given": levels are 1-8, windows are numbered from 1.
  if ((name === 'eqf_level' || name === 'window_id') && !v) return t('value_none');
  if (name === 'status') return t('mstatus_' + v);
  if (name === 'host_status') return t('host_' + v);
  if (name === 'type') return t('type_' + v);
  if (name === 'category') return t('cat_' + v);
  if (name === 'languages') return v.map((l) => languageName(l.lang) + (l.level ? ' ' + l.level : '')).join(', ');
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v)) return formatDay(parseDay(v));
  if (typeof v === 'string' && /^[0-9a-f]{64}-\d+$/.test(v)) return refName ? refName(v) : v;
  return String(v);
}

function changes(names, fields, values, refName) {
  return (fields || [])
    .map((n) => names[n - 1])
    .filter(Boolean)
    .map((name) => `${t('field_' + name)} → ${valueText(name, values ? values[name] : null, refName)}`)
    .join('; ');
}

// One operation in words.
export function describeOp(op, refName) {
  if (op.write) {
    const w = op.write;
    if (w.mobility_create) return t('h_created', { pseudonym: w.mobility_create.participant?.pseudonym ?? '' });
    if (w.mobility_sending) return t('h_sending', { changes: changes(SENDING_BY_NUMBER, w.fields, w.mobility_sending, refName) });
    if (w.mobility_host) return t('h_host', { changes: changes(HOST_BY_NUMBER, w.fields, w.mobility_host, refName) });
    return t('h_write');
  }
  if (op.confirm) return t('h_confirmed', { party: t('party_' + (op.confirm.confirmation?.party ?? 'sending')) });
  if (op.erase) return t('h_erased');
  if (op.set) return t('h_set');
  return t('h_other');
}

// When each confirmation (by signature) was signed: signature -> ISO time.
export function confirmationTimes(history) {
  const out = new Map();
  for (const d of history?.deltas || [])
    for (const op of d.operations || [])
      if (op.confirm && op.confirm.confirmation) out.set(op.confirm.confirmation.signature, d.time);
  return out;
}

export function historyList(history, memberName, refName) {
  const clock = (d) => BigInt(d.hlc || '0'); // beyond 2^53: BigInt, not Number
  const deltas = [...(history?.deltas || [])].sort((a, b) => (clock(b) > clock(a)) - (clock(b) < clock(a)));
  if (deltas.length === 0) return h('p', { class: 'muted' }, t('history_empty'));
  return h(
    'ol',
    { class: 'history', reversed: true },
    deltas.map((d) => {
      const ok = d.verification && d.verification.ok;
      return h(
        'li',
        { dataset: { origin: d.origin, seq: d.seq } },
        h('span', { class: 'history-when' }, formatTime(d.time)),
        ' ',
        h('strong', null, memberName(d.origin)),
        ' ',
        h('span', null, (d.operations || []).map((op) => describeOp(op, refName)).join(' ')),
        ' ',
        h(
          'span',
          { class: ok ? 'sig-ok' : 'sig-bad' },
          ok ? t('history_signed', { seq: d.seq }) : t('history_bad_signature', { detail: d.verification?.detail ?? '' }),
        ),
      );
    }),
  );
}
