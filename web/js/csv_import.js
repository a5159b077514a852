// "Import CSV" in the placements, mobilities and contacts views: the sheet
// `conect-node import placements|mobilities|contacts` reads (README,
// "Spreadsheets"), for a coordinator with no shell on the node's server.
// The same rules as the command: every row is checked first, here for form
// and then at the node exactly as a create (POST /api/v1/import/KIND, all
// rows in one signed delta or none); a row whose id is a record this node
// holds is refused (it would become a second copy); a contact row with
// personal data needs an audience; day-first dates (1.3.2027) are read and
// rows of empty cells skipped. Refusals name the sheet's line.
import * as api from './api.js';
import { SHEETS } from './csv_export.js';
import { t } from './i18n.js';

// Columns the import reads beyond the exported sheet's: the personal data
// (`export --personal-data`), and the other side's fields that must be empty.
const PERSONAL = {
  mobilities: [
    ['participant_name', '/personal_data/name'],
    ['participant_email', '/personal_data/email'],
    ['participant_birth_date', '/personal_data/birth_date', 'date'],
  ],
  contacts: [
    ['name', '/personal_data/name'],
    ['email', '/personal_data/email'],
    ['phone', '/personal_data/phone'],
    ['notes', '/personal_data/notes'],
  ],
};
const EXPORT_ONLY = new Set(['host_status']);

// A refusal of the sheet: its lines, each already in plain words.
export class SheetError extends Error {
  constructor(lines) {
    super(lines.join('\n'));
    this.lines = lines;
  }
}

// RFC 4180 as spreadsheets write it; the separator is the header's (';'
// from Nordic and Russian settings). [{line, fields}], blank lines left out.
export function parseCsv(text) {
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const header = text.slice(0, text.search(/[\r\n]|$/));
  const sep = !header.includes(',') && header.includes(';') ? ';' : ',';
  const rows = [];
  let row = { line: 1, fields: [] };
  let field = '';
  let quoted = false;
  let afterQuote = false;
  let line = 1;
  const endRow = () => {
    row.fields.push(field);
    if (!(row.fields.length === 1 && row.fields[0] === '')) rows.push(row);
    row = { line, fields: [] };
    field = '';
    afterQuote = false;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') (quoted = false), (afterQuote = true);
      else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === sep) {
      row.fields.push(field);
      field = '';
      afterQuote = false;
    } else if (c === '\r' || c === '\n') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      line++;
      endRow();
    } else if (c === '"') {
      if (field !== '' || afterQuote) throw new SheetError([t('csv_bad_quote', { line })]);
      quoted = true;
    } else {
      if (afterQuote) throw new SheetError([t('csv_bad_quote', { line })]);
      field += c;
    }
  }
  if (quoted) throw new SheetError([t('csv_bad_quote', { line: row.line })]);
  if (field !== '' || row.fields.length) endRow();
  return rows;
}

const parts = (s) => s.split(';').map((x) => x.trim()).filter(Boolean);

// 1.3.2027 and 01.03.2027 as 2027-03-01; anything else as it is, for the
// node to accept or name.
export function isoDate(s) {
  const m = /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/.exec(s.trim());
  return m ? `${m[3]}-${m[2].padStart(2, '0')}-${m[1].padStart(2, '0')}` : s;
}

function cellValue(kind, name, value, line) {
  const bad = (form) => {
    throw new SheetError([t('csv_bad_cell', { line, column: name, value, form })]);
  };
  if (kind === 'number') return /^\d+$/.test(value) ? Number(value) : bad('0, 1, 2, ...');
  if (kind === 'list') return parts(value);
  if (kind === 'date') return isoDate(value);
  if (kind === 'skills')
    return parts(value).map((s) => {
      const [lang, level, more] = s.split(':');
      return lang && level && more === undefined ? { lang, level } : bad('LANG:LEVEL');
    });
  if (kind === 'windows')
    return parts(value).map((w, i) => {
      const [start, end, capacity, more] = w.split(':');
      return start && end && /^\d+$/.test(capacity ?? '') && more === undefined
        ? { window_id: i + 1, start: isoDate(start), end: isoDate(end), capacity: Number(capacity) }
        : bad('START:END:CAPACITY');
    });
  if (kind === 'audience') return value === 'federation' || value === 'local' ? { kind: value } : { kind: 'members', members: parts(value) };
  return value;
}

function put(body, pointer, value) {
  const keys = pointer.split('/').slice(1);
  let at = body;
  for (const k of keys.slice(0, -1)) at = at[k] ??= {};
  at[keys[keys.length - 1]] = value;
}

// The sheet's rows as the node's create bodies, with their lines; a
// SheetError naming every bad line.
export function sheetRows(kind, text) {
  const sheet = SHEETS[kind];
  const columns = new Map([...sheet.columns, ...(PERSONAL[kind] || [])].map(([name, pointer, cell]) => [name, { pointer, cell }]));
  const rows = parseCsv(text);
  if (rows.length < 2) throw new SheetError([t('csv_bad_empty')]);
  const header = rows[0].fields;
  const problems = [];
  header.forEach((name, i) => {
    const known = name === 'id' || columns.has(name) || EXPORT_ONLY.has(name) || (sheet.texts && name.startsWith(sheet.texts + '_'));
    if (!known) problems.push(t('csv_bad_column', { column: name }));
    if (header.indexOf(name) !== i) problems.push(t('csv_bad_column_twice', { column: name }));
  });
  if (problems.length) throw new SheetError(problems);
  const out = [];
  for (const { line, fields } of rows.slice(1)) {
    if (fields.every((f) => f === '')) continue; // a cleared row: separators only
    if (fields.length !== header.length) {
      problems.push(t('csv_bad_fields', { line, n: fields.length, m: header.length }));
      continue;
    }
    const body = {};
    const texts = [];
    let id = '';
    try {
      header.forEach((name, i) => {
        const value = fields[i];
        if (value === '') return;
        if (name === 'id') id = value;
        else if (EXPORT_ONLY.has(name)) throw new SheetError([t('csv_bad_export_only', { line, column: name })]);
        else if (columns.has(name) && columns.get(name).pointer !== null) put(body, columns.get(name).pointer, cellValue(columns.get(name).cell, name, value, line));
        else texts.push({ lang: name.slice(sheet.texts.length + 1), text: value });
      });
    } catch (e) {
      if (!(e instanceof SheetError)) throw e;
      problems.push(...e.lines);
      continue;
    }
    if (texts.length) body[sheet.texts] = texts;
    if (kind === 'contacts' && body.personal_data && !body.audience) {
      problems.push(t('csv_bad_audience', { line }));
      continue;
    }
    out.push({ line, id, body });
  }
  if (problems.length) throw new SheetError(problems);
  if (!out.length) throw new SheetError([t('csv_bad_empty')]);
  return out;
}

// Imports the sheet in `text`; resolves with the number of records made,
// rejects with a SheetError (the sheet's lines) or the node's ApiError.
export async function importSheet(kind, text) {
  const rows = sheetRows(kind, text);
  if (rows.some((r) => r.id)) {
    const held = new Set((await api.fetchAll('/api/v1/' + kind, {}, { limit: 500 })).map((x) => String(x.id)));
    const copies = rows.filter((r) => held.has(r.id)).map((r) => t('csv_bad_copy', { line: r.line, id: r.id }));
    if (copies.length) throw new SheetError(copies);
  }
  try {
    const r = await api.request('POST', '/api/v1/import/' + kind, { rows: rows.map((r) => r.body) });
    return r && typeof r.imported === 'number' ? r.imported : rows.length;
  } catch (e) {
    const refused = e && e.body && Array.isArray(e.body.rows) ? e.body.rows : null;
    if (!refused) throw e;
    throw new SheetError(refused.map((p) => t('csv_bad_row', { line: rows[p.row] ? rows[p.row].line : '?', detail: p.detail })));
  }
}
