// One mobility: its three field groups (who may write which, and why the
// other side's are read-only), the participant's personal data as far as
// this node holds it, both parties' confirmations as signatures, the
// actions this node may take as sending or host side, and the signed history.
import * as api from './api.js';
import { h } from './format.js';
import { t } from './i18n.js';
import { AGREED_FIELDS, HOST_FIELDS, SENDING_FIELDS, languagesText, normaliseMobility, parseLanguages } from './mobility_model.js';
import { confirmationTimes, formatTime, historyList, valueText } from './mobility_history.js';
import { checkbox, confirmAction, field, formDialog, formValues, input, plainError, select } from './ui.js';
import { datesText } from './mobilities.js';

const $ = (id) => document.getElementById(id);

// The sending side's actions: [action, label key, shown when, danger].
const SENDING_ACTIONS = [
  ['nominate', 'act_nominate', (m) => m.status === 'draft'],
  ['start', 'act_start', (m) => m.status === 'nominated' && !startsLater(m)], // under way once it has begun
  // Not before the planned start: the node refuses it (a period that has not
  // begun did not take place); actions() says from when.
  ['complete', 'act_complete', (m) => (m.status === 'nominated' || m.status === 'live') && !startsLater(m)],
  ['recognise', 'act_recognise', (m) => m.status === 'completed'],
  ['cancel', 'act_cancel', (m) => m.status !== 'cancelled' && m.status !== 'recognised', true],
  ['erase', 'act_erase', (m) => m.personalStatus === 'held' || m.personalStatus === 'awaiting_delivery', true],
];
// The sending side completed, recognised or cancelled it: the host's answer
// is no longer changed (the node refuses it).
function closed(m) {
  return m.status === 'completed' || m.status === 'recognised' || m.status === 'cancelled';
}

// The planned start is after today (the browser's date; the node checks by
// its own clock).
function startsLater(m) {
  const today = new Date().toISOString().slice(0, 10);
  return Boolean(m.start) && m.start > today;
}

const HOST_ACTIONS = [
  // A host that refused by mistake may still accept (the node takes it)
  // while the sending side has not closed the mobility.
  ['accept', 'act_accept', (m) => m.hostStatus === 'pending' || (m.hostStatus === 'rejected' && !closed(m))],
  ['reject', 'act_reject', (m) => m.hostStatus === 'pending', true],
];

export class MobilityDetail {
  // ctx: { self(), orgName(id), memberName(id), placementName(id), placementWindow(id, w), changed(records) }
  constructor(ctx) {
    this.ctx = ctx;
    this.id = null;
    this.m = null;
    this.history = null;
    this.contacts = new Map();
    $('mobility-detail').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-action]');
      if (b) this.act(b.dataset.action, b);
    });
  }

  async show(id) {
    if (id !== this.id) {
      this.m = null;
      $('mobility-detail').replaceChildren(h('p', { class: 'muted' }, t('loading')));
      $('mobility-title').textContent = '';
    }
    this.id = id;
    this.error(null);
    await this.load();
  }

  async refresh(records) {
    if (!this.id || (records && !records.some((r) => r.id === this.id || r.record_type !== 'mobility'))) return;
    await this.load();
  }

  relabel() {
    if (this.m) this.render();
  }

  async load() {
    const id = this.id;
    try {
      const [item, history] = await Promise.all([
        api.request('GET', `/api/v1/mobilities/${encodeURIComponent(id)}`),
        api.request('GET', `/api/v1/records/${encodeURIComponent(id)}/history`),
      ]);
      if (id !== this.id) return;
      this.m = normaliseMobility(item, this.ctx.self().id);
      this.history = history;
      await this.loadMentors();
      this.render();
      window.conect.mobilityRenders = (window.conect.mobilityRenders || 0) + 1;
    } catch (e) {
      this.error(e);
    }
  }

  // Contacts of the receiving organisation: mentor names and choices.
  async loadMentors() {
    const list = await api.fetchAll('/api/v1/contacts', { organisation: this.m.receivingOrg });
    this.contacts = new Map(list.map((c) => [String(c.id), c.display_name || c.id]));
  }

  refName = (id) => this.contacts.get(id) || this.ctx.placementName(id) || id;

  error(e) {
    const el = $('mobility-error');
    el.hidden = !e;
    el.textContent = e ? plainError(e) : '';
  }

  // PATCH one group; the API refuses what this node may not write (403),
  // which is shown in plain words.
  async save(group, body) {
    const item = await api.request('PATCH', `/api/v1/mobilities/${encodeURIComponent(this.id)}`, { [group]: body });
    this.m = normaliseMobility(item, this.ctx.self().id);
    this.ctx.changed([{ id: this.id, record_type: 'mobility' }]);
    await this.load();
    return item;
  }

  async post(path, body = {}) {
    await api.request('POST', path, body);
    this.ctx.changed([{ id: this.id, record_type: 'mobility' }]);
    await this.load();
  }

  async act(action, button) {
    const m = this.m;
    const path = `/api/v1/mobilities/${encodeURIComponent(m.id)}`;
    button.disabled = true;
    this.error(null);
    try {
      if (action === 'nominate') await this.save('sending', { status: 'nominated' });
      else if (action === 'start') await this.save('sending', { status: 'live' });
      else if (action === 'recognise') await this.save('sending', { status: 'recognised' });
      else if (action === 'complete') await this.post(path + '/complete');
      else if (action === 'accept') await this.save('host', { host_status: 'accepted' });
      else if (action === 'confirm-sending' || action === 'confirm-host')
        await this.post(path + '/confirm', { party: action.slice(8) });
      else if (action === 'edit-sending') await this.editSending(button);
      else if (action === 'edit-host') await this.editHost(button);
      else if (action === 'reject') {
        if (await confirmAction(t('ask_reject', { name: m.pseudonym }), t('act_reject'), button)) await this.save('host', { host_status: 'rejected' });
      } else if (action === 'cancel') {
        if (await confirmAction(t('ask_cancel', { name: m.pseudonym }), t('act_cancel'), button)) await this.post(path + '/cancel');
      } else if (action === 'erase') {
        if (await confirmAction(t('ask_erase', { name: m.pseudonym }), t('act_erase'), button))
          await this.post(`/api/v1/records/${encodeURIComponent(m.id)}/erase`);
      }
    } catch (e) {
      this.error(e);
    } finally {
      if (document.contains(button)) button.disabled = false;
    }
  }

  render() {
    const m = this.m;
    $('mobility-title').textContent = t('mob_title', { name: m.pseudonym });
    const side = m.weSend ? t('mob_we_send') : m.weHost ? t('mob_we_host') : t('mob_we_watch');
    $('mobility-detail').replaceChildren(
      h('p', { class: 'mob-summary wide' }, `${this.ctx.orgName(m.sendingOrg)} → ${this.ctx.orgName(m.receivingOrg)}. ${side}`),
      this.actions(),
      this.confirmations(),
      this.participant(),
      this.group('fixed', t('group_fixed'), t('why_fixed'), false, [
        ['sending_organisation', m.sendingOrg],
        ['receiving_organisation', m.receivingOrg],
        ['pseudonym', m.pseudonym],
        ['type', m.type],
        ['category', m.category],
      ]),
      this.group('sending', t('group_sending', { org: this.ctx.orgName(m.sendingOrg) }),
        m.weSend ? t('why_sending_yours') : t('why_sending_theirs', { org: this.ctx.orgName(m.sendingOrg) }), m.weSend,
        SENDING_FIELDS.map(([name]) => [name, m.sending[name]])),
      this.group('host', t('group_host', { org: this.ctx.orgName(m.receivingOrg) }),
        m.weHost ? t('why_host_yours') : t('why_host_theirs', { org: this.ctx.orgName(m.receivingOrg) }), m.weHost,
        HOST_FIELDS.map(([name]) => [name, m.host[name]])),
      h('section', { class: 'card wide', 'aria-labelledby': 'mob-history-title' },
        h('h3', { id: 'mob-history-title' }, t('history_title')),
        h('p', { class: 'hint' }, t('history_help')),
        historyList(this.history, this.ctx.memberName, this.refName)),
    );
  }

  participant() {
    const m = this.m;
    const rows = [];
    if (m.personalStatus === 'held') {
      for (const k of ['name', 'email', 'birth_date'])
        if (m.personal[k]) rows.push(h('dt', null, t('field_' + k)), h('dd', null, k === 'email' ? h('a', { href: 'mailto:' + m.personal[k] }, m.personal[k]) : valueText(k, m.personal[k])));
    }
    return h('section', { class: 'card', 'aria-labelledby': 'mob-participant-title' },
      h('h3', { id: 'mob-participant-title' }, t('participant_title')),
      h('p', { class: 'personal-status', dataset: { status: m.personalStatus } }, t('pd_' + m.personalStatus)),
      rows.length ? h('dl', { class: 'fields' }, rows) : null);
  }

  // A field group: its values, who writes it and why, and Edit where allowed.
  group(name, title, why, editable, fields) {
    const m = this.m;
    const rows = [];
    for (const [f, v] of fields) {
      const agreed = name === 'fixed' || AGREED_FIELDS.has(f);
      rows.push(h('dt', null, t('field_' + f), agreed ? h('span', { class: 'agreed', title: t('agreed_hint') }, ' ' + t('agreed_mark')) : null),
        h('dd', { dataset: { field: f } }, this.fieldText(f, v)));
    }
    const edit = editable && name !== 'fixed' && !(name === 'sending' && m.status === 'cancelled')
      ? h('button', { type: 'button', class: 'small', dataset: { action: 'edit-' + name } }, t(name === 'sending' ? 'act_edit_plan' : 'act_edit_host'))
      : null;
    return h('section', { class: 'card group', dataset: { group: name, editable: editable ? 'true' : 'false' }, 'aria-labelledby': `mob-group-${name}` },
      h('div', { class: 'group-head' }, h('h3', { id: `mob-group-${name}` }, title), edit),
      h('p', { class: 'hint who-writes' }, why),
      h('dl', { class: 'fields' }, rows));
  }

  fieldText(f, v) {
    if (f.endsWith('_organisation')) return this.ctx.orgName(v);
    if (f === 'window_id' && v) {
      const w = this.ctx.placementWindow(this.m.sending.placement, v);
      if (w) return datesText(w.start, w.end);
    }
    return valueText(f, v, this.refName);
  }

  confirmations() {
    const m = this.m;
    const times = confirmationTimes(this.history);
    const one = (party, c, org) => {
      const signer = c.confirmation ? this.ctx.memberName(c.confirmation.signer) : '';
      const when = c.confirmation ? formatTime(times.get(c.confirmation.signature)) : '';
      const text = c.state === 'missing' ? t('conf_missing_long', { org }) : c.state === 'current'
        ? t('conf_current_long', { signer, when }) : t('conf_changed_long', { signer, when });
      return h('li', { class: 'signature conf-' + c.state, dataset: { party, state: c.state } },
        h('strong', null, t('party_' + party) + ': '), text,
        c.confirmation ? h('code', { class: 'node-id', title: c.confirmation.signature }, ' ' + t('signature_short', { sig: c.confirmation.signature.slice(0, 16) })) : null);
    };
    const changed = m.confirmSending.state === 'changed' || m.confirmHost.state === 'changed';
    return h('section', { class: 'card wide', 'aria-labelledby': 'mob-conf-title' },
      h('h3', { id: 'mob-conf-title' }, t('conf_title')),
      h('p', { class: 'hint' }, t('conf_help')),
      h('ul', { class: 'plain signatures' }, one('sending', m.confirmSending, this.ctx.orgName(m.sendingOrg)),
        one('host', m.confirmHost, this.ctx.orgName(m.receivingOrg))),
      changed ? h('p', { class: 'changed-since', role: 'note' }, t('changed_since_explained')) : null);
  }

  actions() {
    const m = this.m;
    const buttons = [];
    const add = (action, label, danger) =>
      buttons.push(h('button', { type: 'button', class: danger ? 'danger' : '', dataset: { action } }, t(label)));
    if (m.weSend) {
      for (const [a, label, when, danger] of SENDING_ACTIONS) if (when(m)) add(a, label, danger);
      if (m.confirmSending.state !== 'current' && m.status !== 'cancelled') add('confirm-sending', 'act_confirm_sending');
    }
    if (m.weHost) {
      for (const [a, label, when, danger] of HOST_ACTIONS) if (when(m)) add(a, label, danger);
      // Signing as host follows an acceptance (the node refuses it after a refusal).
      if (m.confirmHost.state !== 'current' && m.status !== 'cancelled' && m.hostStatus !== 'rejected') add('confirm-host', 'act_confirm_host');
    }
    const later = m.weSend && (m.status === 'nominated' || m.status === 'live') && startsLater(m);
    return h('section', { class: 'card wide', 'aria-labelledby': 'mob-actions-title' },
      h('h3', { id: 'mob-actions-title' }, t('actions_title')),
      buttons.length ? h('div', { class: 'action-row' }, buttons) : h('p', { class: 'muted' }, m.weSend || m.weHost ? t('actions_none') : t('actions_not_party')),
      later ? h('p', { class: 'hint', dataset: { note: 'complete-later' } }, t('complete_from', { date: valueText('planned_start', m.start) })) : null);
  }

  editSending(opener) {
    const s = this.m.sending;
    return formDialog({
      title: t('act_edit_plan'),
      submitLabel: t('save'),
      opener,
      build: (body) => body.append(
        h('p', { class: 'hint' }, t('edit_plan_hint')),
        field(t('field_planned_start'), input('planned_start', 'date', s.planned_start)),
        field(t('field_planned_end'), input('planned_end', 'date', s.planned_end)),
        field(t('field_qualification_title'), input('qualification_title', 'text', s.qualification_title, { maxlength: 200 })),
        // 0 is "not given" (a CLI or CSV mobility without one): an empty
        // box, or min 1 would refuse every save of the plan.
        field(t('field_eqf_level'), input('eqf_level', 'number', s.eqf_level || '', { min: 1, max: 8 })),
        field(t('field_languages'), input('languages', 'text', languagesText(s.languages)), t('hint_languages')),
        field(t('field_safety_briefing'), input('safety_briefing', 'date', s.safety_briefing)),
        field(t('field_europass_number'), input('europass_number', 'text', s.europass_number, { maxlength: 64 })),
      ),
      submit: (form) => {
        const v = formValues(form);
        const patch = changedFields({ ...s, eqf_level: s.eqf_level || null }, v, { eqf_level: Number, languages: parseLanguages });
        return Object.keys(patch).length ? this.save('sending', patch) : null;
      },
    });
  }

  editHost(opener) {
    const s = this.m.host;
    const mentors = [['', t('value_none')], ...[...this.contacts].map(([id, name]) => [id, name])];
    return formDialog({
      title: t('act_edit_host'),
      submitLabel: t('save'),
      opener,
      build: (body) => body.append(
        field(t('field_mentor'), select('mentor', mentors, s.mentor ?? ''), t('hint_mentor')),
        field(t('field_actual_arrival'), input('actual_arrival', 'date', s.actual_arrival)),
        field(t('field_actual_departure'), input('actual_departure', 'date', s.actual_departure)),
        checkbox(t('field_attendance_confirmed'), 'attendance_confirmed', s.attendance_confirmed),
        field(t('field_units_achieved'), input('units_achieved', 'number', s.units_achieved, { min: 0 })),
        field(t('field_assessment_date'), input('assessment_date', 'date', s.assessment_date)),
      ),
      submit: (form) => {
        const v = formValues(form);
        const patch = changedFields(s, v, { units_achieved: Number });
        return Object.keys(patch).length ? this.save('host', patch) : null;
      },
    });
  }
}

// The fields whose form value differs from the record's: an emptied field
// is sent as null (cleared), numbers and lists converted by `convert`.
function changedFields(current, values, convert) {
  const out = {};
  for (const [k, raw] of Object.entries(values)) {
    const was = current[k] ?? null;
    let v = raw;
    if (typeof v === 'string' && v === '') v = null;
    else if (convert[k]) v = convert[k](v);
    const same = JSON.stringify(v ?? null) === JSON.stringify(was === '' || (Array.isArray(was) && !was.length && v === null) ? null : was);
    if (!same) out[k] = v;
  }
  return out;
}
