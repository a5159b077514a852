// Who receives a contact's personal data (DESIGN §5, docs/privacy.md): its
// audience, a signed field of the record chosen by the owner: every member
// of the federation that is not an auditor (the default), chosen members, or
// only the owner's node. The node refuses a narrowing, because what a member
// received cannot be taken back by a field (only erasing does that); so
// here an audience is only ever widened, never narrowed: options that would
// leave a member out are shown disabled with the reason, and a widening is
// confirmed first, naming who will receive the data.
import { h } from './format.js';
import { t } from './i18n.js';
import { nextId } from './ui.js';

export const AUDIENCE_KINDS = ['federation', 'members', 'local'];

// The API's `audience` ({kind, members}); unset reads as federation.
export function normaliseAudience(a) {
  const kind = a && AUDIENCE_KINDS.includes(a.kind) ? a.kind : 'federation';
  const members = kind === 'members' && Array.isArray(a.members) ? a.members.filter((m) => typeof m === 'string') : [];
  return { kind, members };
}

// Members that can be chosen: admitted (or trusted here), not auditors
// (they are in no audience), not the owner itself (always in it).
export function choosableMembers(members, ownerId) {
  return members.filter((m) => m.id && m.id !== ownerId && m.role !== 'auditor' && (m.status === 'admitted' || m.status === 'override'));
}

// The member ids that may hold the data, as the node computes it
// (crdt/audience.h): the owner, plus the listed members or every member
// that is not an auditor.
export function audienceSet(aud, ownerId, members) {
  const out = new Set([ownerId]);
  if (aud.kind === 'members') for (const m of aud.members) out.add(m);
  if (aud.kind === 'federation') for (const m of choosableMembers(members, ownerId)) out.add(m.id);
  return out;
}

// True when `after` leaves out nobody `before` held. Federation is wider
// than any list (it also takes in members admitted later); a list is never
// offered in place of federation.
export function widens(before, after, ownerId, members) {
  if (before.kind === 'federation') return after.kind === 'federation';
  const a = audienceSet(after, ownerId, members);
  for (const m of audienceSet(before, ownerId, members)) if (!a.has(m)) return false;
  return true;
}

// In plain words, e.g. "Chosen members: this node, Norrbotten Upper Secondary".
export function audienceText(aud, ownerId, selfId, memberName) {
  const owner = ownerId === selfId ? t('this_node') : memberName(ownerId);
  if (aud.kind === 'local') return ownerId === selfId ? t('audience_local') : t('audience_only_owner', { name: owner });
  if (aud.kind === 'members') return t('audience_members_list', { names: [owner, ...aud.members.map(memberName)].join(', ') });
  return t('audience_federation');
}

// "Norrbotten Upper Secondary (SE) · 3f9a1c2b04d7…": name, country, id shortened.
function memberLabel(m) {
  const id = m.id.slice(0, 12) + '…';
  return m.name ? `${m.name}${m.country ? ` (${m.country})` : ''} · ${id}` : id;
}

// The audience choice: three radios and, under "Chosen members", a
// checklist of the members that can be chosen. `current` (null when
// creating) is the audience now: choices that would narrow it are
// disabled, the reason said once below them.
export function audienceFieldset({ current, ownerId, members }) {
  const chosen = current ? current : { kind: 'federation', members: [] };
  const box = h('fieldset', { class: 'audience' }, h('legend', null, t('audience_legend')));
  const radios = {};
  const reason = h('p', { class: 'hint audience-reason', hidden: true }, t('audience_only_widens'));
  for (const kind of AUDIENCE_KINDS) {
    const id = nextId('a');
    const allowed = !current || widens(current, { kind, members: kind === 'members' ? current.members : [] }, ownerId, members);
    radios[kind] = h('input', { type: 'radio', id, name: 'audience_kind', value: kind, checked: chosen.kind === kind, disabled: !allowed });
    if (!allowed) reason.hidden = false;
    box.append(h('span', { class: 'check', dataset: { kind } }, radios[kind], h('label', { for: id }, t('audience_' + kind))));
  }
  // Listed members stay listed (disabled and checked), and a listed member
  // the roster no longer shows as admitted is still shown.
  const listed = new Set(chosen.kind === 'members' ? chosen.members : []);
  const options = choosableMembers(members, ownerId);
  for (const id of listed) if (!options.some((m) => m.id === id)) options.push({ id, name: '', country: '' });
  const list = h('fieldset', { class: 'checkset audience-members' }, h('legend', null, t('audience_members_legend')));
  if (options.length === 0) list.append(h('p', { class: 'hint' }, t('audience_no_members')));
  for (const m of options) {
    const id = nextId('c');
    const kept = listed.has(m.id);
    const input = h('input', { type: 'checkbox', id, name: 'audience_member', value: m.id, checked: kept, disabled: kept || Boolean(radios.members.disabled), dataset: { member: m.id } });
    list.append(h('span', { class: 'check' }, input, h('label', { for: id, title: m.id }, memberLabel(m))));
  }
  if (listed.size) reason.hidden = false;
  const sync = () => {
    list.hidden = !radios.members.checked;
  };
  for (const r of Object.values(radios)) r.addEventListener('change', sync);
  sync();
  box.append(list, reason, h('p', { class: 'hint' }, t('audience_hint')));
  return box;
}

// The audience the form chose: {kind, members} (members: the kept and the
// newly checked ones).
export function readAudience(form) {
  const checked = form.querySelector('input[name=audience_kind]:checked');
  const kind = checked ? checked.value : 'federation';
  if (kind !== 'members') return { kind, members: [] };
  const members = [...form.querySelectorAll('input[name=audience_member]:checked')].map((el) => el.value);
  return { kind, members };
}

// The API's body for an audience.
export function audienceBody(aud) {
  return aud.kind === 'members' ? { kind: 'members', members: aud.members } : { kind: aud.kind };
}
