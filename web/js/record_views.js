// The views that load their own records when opened (mobilities and one
// mobility, contacts, organisations, report, audit), behind one small
// interface for app.js: show(name, arg), refresh(name, changed), relabel().
// Failures are shown in the page's error banner in plain words.
import * as api from './api.js';
import { localised } from './format.js';
import { language } from './i18n.js';
import { MobilitiesView } from './mobilities.js';
import { MobilityDetail } from './mobility_detail.js';
import { newMobilityDialog } from './mobility_form.js';
import { ContactsView } from './contacts.js';
import { OrganisationsView } from './organisations.js';
import { ReportView } from './report.js';
import { AuditView } from './audit.js';
import { placementTitle } from './placements.js';
import { closePlacement, placementDialog } from './placement_form.js';
import { announce, plainError } from './ui.js';
import { t } from './i18n.js';

// app: { self(), orgs(), members(), memberName(id), reservations(),
//        placement(id), showError(e), changed(records), reloadOrgs() }
export function recordViews(app) {
  const ctx = {
    ...app,
    orgName(id) {
      const o = app.orgs().get(id);
      return (o && localised(o.names, language())) || (id ? id.slice(0, 12) + '…' : '');
    },
    // The organisation this node most likely acts as, which a form
    // preselects: one it speaks for named as the node is, else its school,
    // else the first by name (a node also speaks for its partner companies,
    // and the first by name was preselected as a mobility's sender).
    homeOrganisation() {
      const self = app.self();
      const byName = (a, b) => ctx.orgName(a.id).localeCompare(ctx.orgName(b.id));
      const own = [...app.orgs().values()].filter((o) => self && api.ownerOf(o.id) === self.id).sort(byName);
      const named = own.find((o) => o.names.some((n) => n.text === self.name));
      return (named || own.find((o) => o.type === 'vet_school') || own[0] || { id: '' }).id;
    },
    // [id, name] of the organisations `keep` accepts (all by default), by name.
    orgOptions(keep = () => true) {
      return [...app.orgs().values()]
        .filter(keep)
        .map((o) => [o.id, ctx.orgName(o.id)])
        .sort((a, b) => a[1].localeCompare(b[1]));
    },
    placementWindow(id, windowId) {
      const p = app.placement(id);
      return p ? p.windows.find((w) => w.id === Number(windowId)) || null : null;
    },
    placementName(id) {
      const p = app.placement(id);
      return p ? placementTitle(p) : null;
    },
    async newMobility(prefill, opener) {
      const created = await newMobilityDialog(ctx, prefill, opener);
      if (created && created.id) {
        announce(t('mob_created'));
        app.changed([{ id: String(created.id), record_type: 'mobility' }]);
        location.hash = '#mobility/' + created.id;
      }
    },
  };
  const views = {
    mobilities: new MobilitiesView(ctx),
    mobility: new MobilityDetail(ctx),
    contacts: new ContactsView(ctx),
    organisations: new OrganisationsView(ctx),
    report: new ReportView(ctx),
    audit: new AuditView(ctx),
  };
  const guarded = async (fn) => {
    try {
      await fn();
      app.showError(null);
    } catch (e) {
      app.showError(e);
    }
  };
  // This node's placements: add, edit (availability too) and close. The
  // placements view lists them; a refusal goes to the dialog or the banner.
  const placements = {
    async edit(p, opener) {
      const r = await placementDialog(ctx, p, opener);
      if (r && r.id) {
        announce(p ? t('placement_saved') : t('placement_added'));
        app.changed([{ id: String(r.id), record_type: 'placement' }]);
      }
    },
    close: (p, opener) =>
      guarded(async () => {
        const r = await closePlacement(p, placementTitle(p), opener);
        if (r) {
          announce(t('placement_closed'));
          app.changed([{ id: p.id, record_type: 'placement' }]);
        }
      }),
  };
  return {
    views,
    placements,
    plainError,
    has: (name) => Object.prototype.hasOwnProperty.call(views, name),
    show: (name, arg) => guarded(() => views[name].show(arg)),
    refresh: (name, changed) => guarded(() => views[name].refresh(changed)),
    relabel() {
      for (const v of Object.values(views)) if (v.relabel) v.relabel();
    },
  };
}
