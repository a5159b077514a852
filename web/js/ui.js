// Small building blocks of the record views: labelled form controls, the
// shared form and confirmation dialogs (focus returns to the control that
// opened them), and refusals in plain words.
import { h } from './format.js';
import { t } from './i18n.js';

let uid = 0;
export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

// A labelled control: <div class=field><label for=id>…</label>control<hint></div>.
// `hint` (optional) is tied to the control with aria-describedby.
export function field(label, control, hint) {
  if (!control.id) control.id = nextId('f');
  const parts = [h('label', { for: control.id }, label), control];
  if (hint) {
    const hid = control.id + '-hint';
    control.setAttribute('aria-describedby', hid);
    parts.push(h('span', { id: hid, class: 'hint' }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

export function checkbox(label, name, checked) {
  const input = h('input', { type: 'checkbox', id: nextId('c'), name, checked: Boolean(checked) });
  return h('div', { class: 'field check' }, input, h('label', { for: input.id }, label));
}

// <select> from [value, label] pairs; '' as the first value is "any"/"none".
export function select(name, pairs, value) {
  const s = h('select', { name, id: nextId('s') });
  for (const [v, label] of pairs) s.append(new Option(label, v));
  s.value = value ?? '';
  return s;
}

export function input(name, type, value, attrs = {}) {
  const el = h('input', { name, type, id: nextId('i'), ...attrs });
  if (value !== undefined && value !== null) el.value = String(value);
  return el;
}

// Fills a filter or options form: the labelled controls, then Apply (or
// `submitLabel`) and Reset and any `extra` buttons; `apply` runs on submit
// and after a reset.
export function filterForm(form, controls, apply, { submitLabel, reset = true, extra = [] } = {}) {
  form.replaceChildren(
    ...controls,
    h(
      'div',
      { class: 'field buttons' },
      h('button', { type: 'submit', class: 'primary' }, submitLabel || t('filter_apply')),
      reset ? h('button', { type: 'reset' }, t('filter_reset')) : null,
      ...extra,
    ),
  );
  form.onsubmit = (ev) => {
    ev.preventDefault();
    apply();
  };
  form.onreset = reset ? () => setTimeout(apply, 0) : null;
}

// The browser words a form's own checks ("Please fill out this field.") in
// the language of its own menus, not the dashboard's: a Finnish coordinator
// on an English browser got English. Every check is worded here instead, in
// the dashboard's language; an input may name its own hint for a pattern
// (data-hint, an i18n key). Listening on the document in the capture phase
// covers every form and dialog, including those built later.
function checkMessage(el) {
  const v = el.validity;
  if (v.valueMissing) return t(el instanceof HTMLSelectElement ? 'check_choose' : 'check_required');
  if (v.typeMismatch) return t(el.type === 'email' ? 'check_email' : 'check_format');
  if (v.patternMismatch) return el.dataset.hint ? t(el.dataset.hint) : t('check_format');
  if (v.tooLong) return t('check_too_long', { n: el.maxLength });
  if (v.rangeUnderflow) return t('check_min', { n: el.min });
  if (v.rangeOverflow) return t('check_max', { n: el.max });
  if (v.stepMismatch) return t('check_whole');
  if (v.badInput) return t(el.type === 'number' ? 'check_number' : el.type === 'date' ? 'check_date' : 'check_format');
  return '';
}

export function localiseFormChecks(root = document) {
  const clear = (ev) => {
    if (typeof ev.target.setCustomValidity === 'function') ev.target.setCustomValidity('');
  };
  root.addEventListener(
    'invalid',
    (ev) => {
      const el = ev.target;
      if (typeof el.setCustomValidity !== 'function') return;
      el.setCustomValidity(''); // so that validity shows the browser's own finding
      const message = checkMessage(el);
      if (message) el.setCustomValidity(message);
    },
    true,
  );
  root.addEventListener('input', clear, true);
  root.addEventListener('change', clear, true);
}

// A refusal from the node in plain words: what happened and what to do.
export function plainError(e) {
  // The dialogs' own refusals (a line the form cannot read, a question
  // declined) are already in plain words: no "Error:" before them.
  if (e instanceof Error && e.status === undefined && e.message) return e.message;
  const detail = (e && (e.detail || e.message)) || String(e);
  const known = {
    not_authorised: 'refused_not_authorised',
    fixed_field: 'refused_fixed_field',
    invalid_argument: 'refused_invalid',
    malformed_body: 'refused_invalid',
    invalid_state: 'refused_invalid_state',
    over_capacity: 'refused_over_capacity',
    not_found: 'refused_not_found',
    unreachable: 'refused_unreachable',
    already_exists: 'refused_already_running',
    csrf_token_missing: 'refused_csrf',
    csrf_token_invalid: 'refused_csrf',
  };
  let key = e && known[e.code];
  // not_authorised also answers writes this node may make on no record:
  // an auditor's (it authors nothing) and a restored node's until it has
  // its own chain back (docs/operations.md). The API names them only in
  // its detail; "only the organisation that owns these fields" would be
  // the wrong reason.
  if (key === 'refused_not_authorised') {
    if (document.body.classList.contains('auditor-node') || /^this node is an auditor/.test(detail)) key = 'refused_auditor';
    else if (/fetched its own chain back/.test(detail)) key = 'refused_fenced';
  }
  return key ? t(key, { detail }) : t('error', { detail });
}

// ------------------------------------------------------------ dialogs
const $ = (id) => document.getElementById(id);

function withOpener(dialog, opener) {
  dialog.addEventListener(
    'close',
    () => {
      if (opener && document.contains(opener)) opener.focus();
    },
    { once: true },
  );
}

// Asks "are you sure?" with the action's own wording. Resolves true only
// when the reader chose the action.
export function confirmAction(message, actionLabel, opener) {
  const dialog = $('confirm-dialog');
  $('confirm-text').textContent = message;
  const ok = $('confirm-ok');
  ok.textContent = actionLabel;
  // Not "Cancel": the action itself is often one ("Cancel mobility",
  // "Peru liikkuvuusjakso" beside "Peruuta"), and the two were mixed up.
  $('confirm-cancel').textContent = t('go_back');
  withOpener(dialog, opener);
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.removeEventListener('click', yes);
      dialog.removeEventListener('close', no);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const yes = () => done(true);
    const no = () => done(false);
    ok.addEventListener('click', yes);
    dialog.addEventListener('close', no);
    $('confirm-cancel').onclick = () => dialog.close();
    dialog.showModal();
    $('confirm-cancel').focus();
  });
}

// A form in the shared dialog: `build(form)` appends the controls; on
// submit `submit(form)` runs (async). A refusal stays in the dialog in plain
// words; success closes it. Resolves with submit's result, or null when
// cancelled.
export function formDialog({ title, submitLabel, build, submit, opener }) {
  const dialog = $('form-dialog');
  const form = $('form-dialog-form');
  const body = $('form-dialog-body');
  const err = $('form-dialog-error');
  $('form-dialog-title').textContent = title;
  $('form-dialog-cancel').textContent = t('cancel');
  const ok = $('form-dialog-ok');
  ok.textContent = submitLabel;
  err.hidden = true;
  body.replaceChildren();
  build(body);
  withOpener(dialog, opener);
  return new Promise((resolve) => {
    let result = null;
    const onSubmit = async (ev) => {
      ev.preventDefault();
      ok.disabled = true;
      try {
        result = await submit(form);
        dialog.close();
      } catch (e) {
        err.textContent = plainError(e);
        err.hidden = false;
      } finally {
        ok.disabled = false;
      }
    };
    const onClose = () => {
      form.removeEventListener('submit', onSubmit);
      resolve(result);
    };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', onClose, { once: true });
    $('form-dialog-cancel').onclick = () => dialog.close();
    dialog.showModal();
    const first = body.querySelector('input:not([type=hidden]), select, textarea');
    if (first) first.focus();
  });
}

// Values of a form's named controls: checkboxes as booleans, empty text as ''.
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') {
      if (el.dataset.set) {
        out[el.name] = out[el.name] || [];
        if (el.checked) out[el.name].push(el.value);
      } else out[el.name] = el.checked;
    } else out[el.name] = el.value.trim();
  }
  return out;
}

// A labelled group of checkboxes for a set field (roles); values under `name`.
export function checkboxSet(legend, name, options, chosen) {
  const box = h('fieldset', { class: 'checkset' }, h('legend', null, legend));
  for (const [value, label] of options) {
    const input = h('input', { type: 'checkbox', id: nextId('c'), name, value, checked: chosen.includes(value), dataset: { set: '1' } });
    box.append(h('span', { class: 'check' }, input, h('label', { for: input.id }, label)));
  }
  return box;
}

// A small "status" line that screen readers hear.
export function announce(text) {
  const a = $('announcer');
  a.textContent = '';
  requestAnimationFrame(() => (a.textContent = text));
}
