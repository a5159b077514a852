// "New mobility": from scratch, or from one of this node's confirmed
// reservations (placement, window, host organisation and dates filled in, so
// that "Create mobility" and "Create" are the two clicks). The participant's
// personal data goes in `personal_data`, never in a signed field.
import * as api from './api.js';
import { h } from './format.js';
import { t } from './i18n.js';
import { CATEGORIES, TYPES } from './mobility_model.js';
import { field, formDialog, formValues, input, select } from './ui.js';
import { placementTitle } from './placements.js';

function pseudonym() {
  const d = new Date();
  const n = String(Math.floor(Math.random() * 9000) + 1000);
  return `P-${d.getUTCFullYear()}-${n}`;
}

// ctx: { self(), orgOptions(keep), homeOrganisation() }; prefill: {reservation, placement, window}.
// Resolves with the created mobility (API JSON) or null.
export function newMobilityDialog(ctx, prefill, opener) {
  const self = ctx.self();
  const own = ctx.orgOptions((o) => api.ownerOf(o.id) === self.id);
  const all = ctx.orgOptions();
  const p = prefill && prefill.placement;
  const w = prefill && prefill.window;
  return formDialog({
    title: p ? t('mob_new_from', { title: placementTitle(p) }) : t('mob_new'),
    submitLabel: t('mob_create_submit'),
    opener,
    build(body) {
      const sending = select('sending_organisation', own, ctx.homeOrganisation());
      const receiving = select('receiving_organisation', [['', t('choose')], ...all], p ? p.host : '');
      sending.required = true;
      receiving.required = true;
      const pseudo = input('pseudonym', 'text', pseudonym(), { required: true, maxlength: 64 });
      body.append(
        field(t('field_sending_organisation'), sending),
        field(t('field_receiving_organisation'), receiving),
        field(t('field_pseudonym'), pseudo, t('hint_pseudonym')),
        field(t('field_type'), select('type', TYPES.map((x) => [x, t('type_' + x)]), 'learner_otj_company')),
        field(t('field_category'), select('category', CATEGORIES.map((x) => [x, t('cat_' + x)]), 'ivet_learner')),
        field(t('field_planned_start'), input('planned_start', 'date', w ? w.start : '')),
        field(t('field_planned_end'), input('planned_end', 'date', w ? w.end : '')),
        // Agreed fields both parties sign: suggested (the placement's trade,
        // the usual level), never filled in for the coordinator.
        field(t('field_qualification_title'), input('qualification_title', 'text', '', { maxlength: 200, placeholder: p ? p.trade : '' })),
        field(t('field_eqf_level'), input('eqf_level', 'number', '', { min: 1, max: 8, placeholder: '4' })),
        h('fieldset', { class: 'personal' },
          h('legend', null, t('personal_legend')),
          h('p', { class: 'hint' }, t('personal_hint')),
          field(t('field_name'), input('name', 'text', '', { autocomplete: 'off', maxlength: 200 })),
          field(t('field_email'), input('email', 'email', '', { autocomplete: 'off' })),
          field(t('field_birth_date'), input('birth_date', 'date', '')),
        ),
      );
    },
    async submit(form) {
      const v = formValues(form);
      const sending = {};
      if (p) {
        sending.placement = p.id;
        sending.window_id = prefill.reservation.windowId;
      }
      if (v.planned_start) sending.planned_start = v.planned_start;
      if (v.planned_end) sending.planned_end = v.planned_end;
      if (v.qualification_title) sending.qualification_title = v.qualification_title;
      if (v.eqf_level) sending.eqf_level = Number(v.eqf_level);
      const body = {
        fixed: {
          sending_organisation: v.sending_organisation,
          receiving_organisation: v.receiving_organisation,
          participant: { pseudonym: v.pseudonym },
          type: v.type,
          category: v.category,
        },
        sending,
      };
      const personal = {};
      for (const k of ['name', 'email', 'birth_date']) if (v[k]) personal[k] = v[k];
      if (Object.keys(personal).length) body.personal_data = personal;
      return api.request('POST', '/api/v1/mobilities', body);
    },
  });
}
