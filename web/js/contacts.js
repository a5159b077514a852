// The federation's contact directory: by organisation and role (the API's
// filters), with languages, and name, e-mail and phone where this node holds
// them (mailto: and tel: links). This node's own contacts can be added and
// edited; the display name is a role-like label, never a person's name.
// Each contact shows who receives its personal data (its audience); this
// node's own contacts choose it when added and can widen it later
// (contact_audience.js). The owner erases a contact's personal data here
// too: the audience editor says that erasing is the only way to take it
// back, so the way must be on the same row.
import * as api from './api.js';
import { audienceBody, audienceFieldset, audienceSet, audienceText, readAudience, widens } from './contact_audience.js';
import { h, languageName } from './format.js';
import { t } from './i18n.js';
import { CONTACT_ROLES, languagesText, normaliseContact, parseLanguages } from './mobility_model.js';
import { announce, checkboxSet, confirmAction, field, filterForm, formDialog, formValues, input, plainError, select } from './ui.js';

const $ = (id) => document.getElementById(id);

// What there is to erase: data this node holds, or data sealed to members
// that has not reached it yet (the erasure reaches them all the same).
const ERASABLE = new Set(['held', 'awaiting_delivery']);

export class ContactsView {
  // ctx: { self(), orgName(id), orgOptions(keep), homeOrganisation(), changed(records), members(), memberName(id) }
  constructor(ctx) {
    this.ctx = ctx;
    this.items = [];
    this.generation = 0;
    $('contact-new').addEventListener('click', (ev) => this.edit(null, ev.currentTarget));
    $('contact-table').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-edit]');
      if (b) this.edit(this.items.find((c) => c.id === b.dataset.edit), b);
      const a = ev.target.closest('button[data-audience]');
      if (a) this.widen(this.items.find((c) => c.id === a.dataset.audience), a);
      const x = ev.target.closest('button[data-erase]');
      if (x) this.erase(this.items.find((c) => c.id === x.dataset.erase), x);
    });
  }

  buildFilters() {
    const form = $('contact-filters');
    const keep = this.controls ? { organisation: this.controls.organisation.value, role: this.controls.role.value } : {};
    this.controls = {
      organisation: select('organisation', [['', t('any')], ...this.ctx.orgOptions()], keep.organisation),
      role: select('role', [['', t('any')], ...CONTACT_ROLES.map((r) => [r, t('role_' + r)])], keep.role),
    };
    filterForm(form, [field(t('col_organisation'), this.controls.organisation), field(t('col_roles'), this.controls.role)], () =>
      this.load(),
    );
  }

  async show() {
    this.buildFilters();
    await this.load();
  }

  async refresh() {
    if (this.controls) await this.load(); // shown once: the filters exist
  }

  relabel() {
    this.buildFilters();
    this.paint();
  }

  query() {
    return { organisation: this.controls.organisation.value, role: this.controls.role.value };
  }

  async load() {
    const gen = ++this.generation;
    const list = await api.fetchAll('/api/v1/contacts', this.query(), { isStale: () => gen !== this.generation });
    if (list === null) return;
    const self = this.ctx.self();
    this.items = list.map((c) => normaliseContact(c, self.id));
    this.paint();
    window.conect.contactLoads = (window.conect.contactLoads || 0) + 1;
  }

  paint() {
    const cols = ['col_organisation', 'col_display_name', 'col_roles', 'col_languages', 'col_reach', 'col_audience', 'col_actions'];
    const rows = this.items.map((c) => this.row(c));
    if (rows.length === 0) rows.push(h('tr', null, h('td', { colspan: cols.length, class: 'empty' }, t('contacts_empty'))));
    $('contact-table').replaceChildren(
      h('thead', null, h('tr', null, cols.map((k) => h('th', { scope: 'col' }, t(k))))),
      h('tbody', null, rows),
    );
    $('contact-count').textContent = t('contacts_count', { n: this.items.length });
  }

  row(c) {
    const p = c.personal;
    const reach = [];
    if (c.personalStatus === 'held') {
      if (p.name) reach.push(h('span', { class: 'host-name' }, p.name));
      if (p.email) reach.push(h('a', { href: 'mailto:' + p.email }, p.email));
      if (p.phone) reach.push(h('a', { href: 'tel:' + p.phone }, p.phone));
    }
    if (reach.length === 0) reach.push(h('span', { class: 'muted', dataset: { status: c.personalStatus } }, t('pds_' + c.personalStatus)));
    return h(
      'tr',
      { dataset: { id: c.id, organisation: c.organisation } },
      h('td', { 'data-label': t('col_organisation') }, this.ctx.orgName(c.organisation)),
      h('th', { scope: 'row', 'data-label': t('col_display_name') }, c.displayName, c.own ? h('span', { class: 'tag' }, t('own_record')) : null),
      h('td', { 'data-label': t('col_roles') }, c.roles.map((r) => t('role_' + r)).join(', ')),
      h('td', { 'data-label': t('col_languages') }, c.languages.map((l) => languageName(l.lang) + (l.level ? ' ' + l.level : '')).join(', ')),
      h('td', { 'data-label': t('col_reach'), class: 'reach' }, reach),
      h('td', { 'data-label': t('col_audience'), class: 'audience', dataset: { kind: c.audience.kind }, title: c.own ? null : t('audience_read_only') },
        this.audienceText(c)),
      h('td', { 'data-label': t('col_actions'), class: 'actions' },
        c.own ? h('button', { type: 'button', class: 'small', dataset: { edit: c.id }, 'aria-label': t('contact_edit_named', { name: c.displayName }) }, t('edit')) : null,
        c.own ? h('button', { type: 'button', class: 'small', dataset: { audience: c.id }, 'aria-label': t('audience_widen_named', { name: c.displayName }) }, t('audience_widen')) : null,
        c.own && ERASABLE.has(c.personalStatus)
          ? h('button', { type: 'button', class: 'small danger', dataset: { erase: c.id }, 'aria-label': t('contact_erase_named', { name: c.displayName }) }, t('act_erase'))
          : null),
    );
  }

  error(e) {
    const el = $('contact-error');
    el.hidden = !e;
    el.textContent = e ? plainError(e) : '';
  }

  // Erases the personal data of one of this node's contacts on every node
  // (POST /api/v1/records/{id}/erase, as `conect-node erase ID`), after an
  // "are you sure?" that names the contact. The node's refusal, if any, is
  // shown in plain words above the table.
  async erase(c, button) {
    if (!c) return;
    this.error(null);
    if (!(await confirmAction(t('ask_erase_contact', { name: c.displayName }), t('act_erase'), button))) return;
    button.disabled = true;
    try {
      const r = await api.request('POST', `/api/v1/records/${encodeURIComponent(c.id)}/erase`);
      this.ctx.changed([{ id: String(r?.id ?? c.id), record_type: 'contact' }]);
      await this.load();
      announce(t('contact_erased', { name: c.displayName }));
    } catch (e) {
      this.error(e);
    } finally {
      if (document.contains(button)) button.disabled = false;
    }
  }

  // Adds a contact (c null) or edits one of this node's.
  edit(c, opener) {
    const self = this.ctx.self();
    const own = this.ctx.orgOptions((o) => api.ownerOf(o.id) === self.id);
    const p = (c && c.personal) || {};
    return formDialog({
      title: c ? t('contact_edit') : t('contact_new'),
      submitLabel: t('save'),
      opener,
      build: (body) => {
        const org = select('organisation', own, c ? c.organisation : this.ctx.homeOrganisation());
        org.disabled = Boolean(c); // a contact stays with its organisation
        body.append(
          field(t('col_organisation'), org),
          field(t('col_display_name'), input('display_name', 'text', c ? c.displayName : '', { required: true, maxlength: 200 }), t('no_personal_data_here')),
          checkboxSet(t('col_roles'), 'roles', CONTACT_ROLES.map((r) => [r, t('role_' + r)]), c ? c.roles : []),
          field(t('field_languages'), input('languages', 'text', c ? languagesText(c.languages) : ''), t('hint_languages')),
          h('fieldset', { class: 'personal' },
            h('legend', null, t('personal_legend')),
            h('p', { class: 'hint' }, t('personal_hint_contact')),
            field(t('field_name'), input('name', 'text', p.name, { autocomplete: 'off', maxlength: 200 })),
            field(t('field_email'), input('email', 'email', p.email, { autocomplete: 'off' })),
            field(t('field_phone'), input('phone', 'tel', p.phone, { autocomplete: 'off', pattern: '\\+[1-9][0-9 \\(\\)\\-\\.]{1,24}', 'data-hint': 'hint_phone' }), t('hint_phone')),
            field(t('field_notes'), input('notes', 'text', p.notes, { maxlength: 500 })),
            // Chosen when the contact is added; widened later from its row.
            c ? null : audienceFieldset({ current: null, ownerId: self.id, members: this.ctx.members() })),
        );
      },
      submit: async (form) => {
        const v = formValues(form);
        const body = { display_name: v.display_name, roles: v.roles || [], languages: parseLanguages(v.languages) };
        // Unset reads as federation (the default): only another choice is written.
        const audience = readAudience(form);
        if (!c && audience.kind !== 'federation') body.audience = audienceBody(audience);
        const personal = {};
        for (const k of ['name', 'email', 'phone', 'notes']) if (v[k]) personal[k] = v[k];
        const canon = (o) => JSON.stringify(Object.entries(o).filter(([, x]) => x).sort());
        if (Object.keys(personal).length && (!c || canon(personal) !== canon(p))) body.personal_data = personal;
        if (c) {
          // A patch names only what changed (one that changes nothing is refused).
          const same = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
          if (body.display_name === c.displayName) delete body.display_name;
          if (same(body.roles, c.roles)) delete body.roles;
          if (languagesText(body.languages) === languagesText(c.languages)) delete body.languages;
          if (Object.keys(body).length === 0) return null;
        }
        const r = c
          ? await api.request('PATCH', `/api/v1/contacts/${encodeURIComponent(c.id)}`, body)
          : await api.request('POST', '/api/v1/contacts', { organisation: v.organisation, ...body });
        this.ctx.changed([{ id: String(r.id), record_type: 'contact' }]);
        await this.load();
        return r;
      },
    });
  }

  audienceText(c) {
    return audienceText(c.audience, c.owner, this.ctx.self().id, (id) => this.ctx.memberName(id));
  }

  // Widens the audience of one of this node's contacts. Choices that would
  // narrow it are disabled (the node refuses them anyway, and its reason is
  // shown); a widening is confirmed first, naming the members that will
  // receive the personal data; declining writes nothing.
  widen(c, opener) {
    const self = this.ctx.self();
    const members = this.ctx.members();
    const name = (id) => (id === self.id ? t('this_node') : this.ctx.memberName(id));
    return formDialog({
      title: t('audience_title', { name: c.displayName }),
      submitLabel: t('audience_widen'),
      opener,
      build: (body) => {
        body.append(
          h('p', { class: 'audience-current' }, t('audience_current', { audience: this.audienceText(c) })),
          audienceFieldset({ current: c.audience, ownerId: c.owner, members }),
        );
      },
      submit: async (form) => {
        const after = readAudience(form);
        const before = audienceSet(c.audience, c.owner, members);
        const added = [...audienceSet(after, c.owner, members)].filter((m) => !before.has(m));
        const same = after.kind === c.audience.kind && added.length === 0 && (after.kind !== 'members' || after.members.length === c.audience.members.length);
        if (same) throw new Error(t('audience_unchanged'));
        // A narrowing is never offered; one forced anyway goes to the node,
        // which refuses it with its reason (shown in the dialog).
        if (widens(c.audience, after, c.owner, members)) {
          const who = added.length ? added.map(name).join(', ') : t('audience_nobody_yet');
          const text = t('audience_confirm', { name: c.displayName, members: who }) + (after.kind === 'federation' ? ' ' + t('audience_confirm_later') : '');
          if (!(await confirmAction(text, t('audience_confirm_act'), form.querySelector('button[type=submit]')))) {
            announce(t('audience_not_changed', { audience: this.audienceText(c) }));
            return null;
          }
        }
        const r = await api.request('PATCH', `/api/v1/contacts/${encodeURIComponent(c.id)}`, { audience: audienceBody(after) });
        this.ctx.changed([{ id: String(r.id), record_type: 'contact' }]);
        await this.load();
        const now = this.items.find((x) => x.id === c.id);
        if (now) announce(t('audience_widened', { audience: this.audienceText(now) }));
        return r;
      },
    });
  }
}
