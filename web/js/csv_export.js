// "Download CSV" of the placements, mobilities and contacts this node holds:
// the very sheet `conect-node export placements|mobilities|contacts` writes
// (node/cli/cmd_csv.cc; README "Spreadsheets"): UTF-8 with a byte-order
// mark, RFC 4180 quoting, lists joined with ';', languages LANG:LEVEL,
// windows START:END:CAPACITY, and no personal data (as the CLI without
// --personal-data), so it imports again with `conect-node import`.
import * as api from './api.js';

// [column, JSON pointer, cell kind]; a null pointer is the English text of
// the sheet's text list (title_en), whose other languages follow as columns.
export const SHEETS = {
  placements: {
    texts: 'title',
    columns: [
      ['host_organisation', '/host_organisation'],
      ['title_en', null],
      ['trade', '/trade'],
      ['trade_code', '/trade_code'],
      ['tasks', '/tasks'],
      ['city', '/city'],
      ['country', '/country'],
      ['windows', '/windows', 'windows'],
      ['min_days', '/min_days', 'number'],
      ['max_days', '/max_days', 'number'],
      ['languages', '/languages', 'skills'],
      ['safety', '/safety', 'list'],
      ['minimum_age', '/minimum_age', 'number'],
      ['accommodation', '/accommodation'],
      ['status', '/status'],
    ],
  },
  mobilities: {
    columns: [
      ['sending_organisation', '/fixed/sending_organisation'],
      ['receiving_organisation', '/fixed/receiving_organisation'],
      ['pseudonym', '/fixed/participant/pseudonym'],
      ['type', '/fixed/type'],
      ['category', '/fixed/category'],
      ['placement', '/sending/placement'],
      ['window_id', '/sending/window_id', 'number'],
      ['planned_start', '/sending/planned_start', 'date'],
      ['planned_end', '/sending/planned_end', 'date'],
      ['qualification_title', '/sending/qualification_title'],
      ['eqf_level', '/sending/eqf_level', 'number'],
      ['languages', '/sending/languages', 'skills'],
      ['status', '/sending/status'],
      ['safety_briefing', '/sending/safety_briefing', 'date'],
      ['europass_number', '/sending/europass_number'],
      ['host_status', '/host/host_status'],
    ],
  },
  contacts: {
    columns: [
      ['organisation', '/organisation'],
      ['display_name', '/display_name'],
      ['roles', '/roles', 'list'],
      ['languages', '/languages', 'skills'],
      ['audience', '/audience', 'audience'],
    ],
  },
};

const at = (item, pointer) =>
  pointer
    .split('/')
    .slice(1)
    .reduce((v, k) => (v !== null && typeof v === 'object' && k in v ? v[k] : undefined), item);

const text = (v) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));

function cell(kind, v) {
  if (v === undefined || v === null) return '';
  if (kind === 'number') return v === 0 ? '' : text(v); // 0 is "not given" in every number column
  if (kind === 'list') return v.map(text).join(';');
  if (kind === 'skills') return v.map((x) => `${text(x.lang)}:${text(x.level)}`).join(';');
  if (kind === 'windows') return v.map((w) => `${text(w.start)}:${text(w.end)}:${text(w.capacity)}`).join(';');
  if (kind === 'audience') return v.kind === 'members' ? (v.members || []).map(text).join(';') : text(v.kind);
  return text(v);
}

function quoted(f) {
  return /[,"\r\n]/.test(f) || /^ | $/.test(f) ? '"' + f.replaceAll('"', '""') + '"' : f;
}

const row = (cells) => cells.map(quoted).join(',') + '\r\n';

function textIn(item, field, lang) {
  const found = (Array.isArray(item[field]) ? item[field] : []).find((x) => x.lang === lang);
  return found ? text(found.text) : '';
}

// The sheet for `items` (the API's JSON, in the API's order).
export function sheetCsv(kind, items) {
  const sheet = SHEETS[kind];
  const langs = [];
  if (sheet.texts)
    for (const item of items)
      for (const x of Array.isArray(item[sheet.texts]) ? item[sheet.texts] : [])
        if (x.lang !== 'en' && !langs.includes(x.lang)) langs.push(x.lang);
  let out = '\uFEFF' + row(['id', ...sheet.columns.map(([name]) => name), ...langs.map((l) => `${sheet.texts}_${l}`)]);
  for (const item of items) {
    const cells = [text(item.id)];
    for (const [name, pointer, kind_] of sheet.columns)
      cells.push(pointer === null ? textIn(item, sheet.texts, name.slice(sheet.texts.length + 1)) : cell(kind_, at(item, pointer)));
    for (const l of langs) cells.push(textIn(item, sheet.texts, l));
    out += row(cells);
  }
  return out;
}

// Fetches every record of the kind and saves the sheet as
// conect-KIND.csv. Resolves with the number of rows.
export async function downloadCsv(kind) {
  const items = await api.fetchAll('/api/v1/' + kind, {}, { limit: 500 });
  const csv = sheetCsv(kind, items || []);
  window.conect.csv = { kind, text: csv }; // what the browser test compares with the CLI's
  const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `conect-${kind}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return items ? items.length : 0;
}
