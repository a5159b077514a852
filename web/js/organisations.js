// The organisation directory: every organisation of the federation with its
// type, trades, country and city and the member that speaks for it; this
// node's own can be added and edited (only the speaker may change one).
import * as api from './api.js';
import { h, countryName, localised } from './format.js';
import { language, t } from './i18n.js';
import { ORG_TYPES } from './mobility_model.js';
import { field, formDialog, formValues, input, select } from './ui.js';

const $ = (id) => document.getElementById(id);
const NAME_LANGS = ['en', 'fi', 'sv', 'nb', 'ru'];

export class OrganisationsView {
  // ctx: { self(), memberName(id), changed(records), reloadOrgs() }
  constructor(ctx) {
    this.ctx = ctx;
    this.items = [];
    $('org-new').addEventListener('click', (ev) => this.edit(null, ev.currentTarget));
    $('org-table').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-edit]');
      if (b) this.edit(this.items.find((o) => o.id === b.dataset.edit), b);
    });
  }

  async show() {
    await this.load();
  }

  async refresh() {
    await this.load();
  }

  relabel() {
    this.paint();
  }

  async load() {
    const list = await api.fetchAll('/api/v1/organisations');
    this.items = list.map(api.normaliseOrganisation);
    this.items.sort((a, b) => this.name(a).localeCompare(this.name(b)));
    this.paint();
    window.conect.orgLoads = (window.conect.orgLoads || 0) + 1;
  }

  name(o) {
    return localised(o.names, language()) || o.id;
  }

  paint() {
    const self = this.ctx.self();
    const cols = ['col_organisation', 'col_org_type', 'col_country', 'col_city', 'col_trades', 'col_speaker', 'col_actions'];
    const rows = this.items.map((o) => {
      const own = api.ownerOf(o.id) === self.id;
      return h(
        'tr',
        { dataset: { id: o.id } },
        h('th', { scope: 'row', 'data-label': t('col_organisation') }, this.name(o), own ? h('span', { class: 'tag' }, t('own_record')) : null,
          o.website ? h('a', { class: 'country', href: /^https?:\/\//.test(o.website) ? o.website : 'https://' + o.website, rel: 'noopener noreferrer' }, o.website) : null),
        h('td', { 'data-label': t('col_org_type') }, o.type ? t('orgtype_' + o.type) : ''),
        h('td', { 'data-label': t('col_country') }, countryName(o.country)),
        h('td', { 'data-label': t('col_city') }, [o.city, o.region].filter(Boolean).join(', ')),
        h('td', { 'data-label': t('col_trades') }, o.trades.join(', ')),
        h('td', { 'data-label': t('col_speaker') }, this.ctx.memberName(api.ownerOf(o.id))),
        h('td', { 'data-label': t('col_actions'), class: 'actions' },
          own ? h('button', { type: 'button', class: 'small', dataset: { edit: o.id }, 'aria-label': t('org_edit_named', { name: this.name(o) }) }, t('edit')) : null),
      );
    });
    $('org-table').replaceChildren(h('thead', null, h('tr', null, cols.map((k) => h('th', { scope: 'col' }, t(k))))), h('tbody', null, rows));
    $('org-count').textContent = t('orgs_count', { n: this.items.length });
  }

  edit(o, opener) {
    const first = o && o.names.length ? o.names[0] : { lang: language(), text: '' };
    return formDialog({
      title: o ? t('org_edit') : t('org_new'),
      submitLabel: t('save'),
      opener,
      build: (body) => {
        const country = input('country', 'text', o ? o.country : this.ctx.self().country, { required: true, maxlength: 2, pattern: '[A-Za-z]{2}', 'data-hint': 'hint_country' });
        body.append(
          field(t('field_org_name'), input('name', 'text', first.text, { required: true, maxlength: 200 })),
          field(t('field_name_language'), select('lang', NAME_LANGS.map((l) => [l, l]), first.lang)),
          field(t('col_org_type'), select('type', ORG_TYPES.map((x) => [x, t('orgtype_' + x)]), o ? o.type : 'vet_school')),
          field(t('col_country'), country, t('hint_country')),
          field(t('col_city'), input('city', 'text', o ? o.city : '', { maxlength: 200 })),
          field(t('field_region'), input('region', 'text', o ? o.region : '', { maxlength: 200 })),
          field(t('field_address'), input('address', 'text', o ? o.address : '', { maxlength: 300 })),
          field(t('field_website'), input('website', 'text', o ? o.website : '', { maxlength: 300 })),
          field(t('col_trades'), input('trades', 'text', o ? o.trades.join(', ') : ''), t('hint_trades')),
        );
      },
      submit: async (form) => {
        const v = formValues(form);
        const names = o ? o.names.filter((n) => n.lang !== v.lang) : [];
        const body = {
          names: [{ lang: v.lang, text: v.name }, ...names],
          type: v.type,
          country: v.country.toUpperCase(),
          city: v.city || null,
          region: v.region || null,
          address: v.address || null,
          website: v.website || null,
          trades: v.trades.split(',').map((x) => x.trim()).filter(Boolean),
        };
        for (const [k, x] of Object.entries(body)) {
          // A create leaves empty fields out; a patch names only what changed.
          const was = o ? (k === 'names' ? o.names : o[k] || null) : null;
          if (o ? JSON.stringify(x) === JSON.stringify(was) : x === null) delete body[k];
        }
        if (o && Object.keys(body).length === 0) return null;
        const r = o
          ? await api.request('PATCH', `/api/v1/organisations/${encodeURIComponent(o.id)}`, body)
          : await api.request('POST', '/api/v1/organisations', body);
        this.ctx.changed([{ id: String(r.id), record_type: 'organisation' }]);
        await this.ctx.reloadOrgs();
        await this.load();
        return r;
      },
    });
  }
}
