// What the mobility and contact views read from the API's records: the
// three field groups of a mobility, which side this node is, the state of
// each party's confirmation, and the personal-data status.
import { ownerOf } from './api.js';
import { normaliseAudience } from './contact_audience.js';

// The participant's or contact's personal data as this node holds it:
// "held" (with the data), "not_shared_with_this_node", "awaiting_delivery",
// "erased", or "none" when the record never referred to any. The API's
// personal_data_status says it when the node gives it (the personal-data
// work); older nodes only say whether they hold the data or it was erased.
export function personalStatus(record, commitment) {
  if (commitment === null || commitment === undefined || commitment === '') return 'none';
  const s = record.personal_data_status;
  if (typeof s === 'string' && s) return s;
  if (record.personal_data && typeof record.personal_data === 'object') return 'held';
  if (record.personal_data_erased) return 'erased';
  return 'not_shared_with_this_node';
}

function obj(v) {
  return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
}

// A confirmation's state for one party: "current" (signed what is agreed
// now), "changed" (signed, but the agreed fields changed since) or "missing".
function confirmationOf(list, party) {
  const mine = list.filter((c) => c && c.party === party);
  const current = mine.find((c) => c.current);
  const any = current || mine[mine.length - 1] || null;
  return { state: current ? 'current' : any ? 'changed' : 'missing', confirmation: any };
}

export function normaliseMobility(item, selfId) {
  const fixed = obj(item.fixed);
  const sending = obj(item.sending);
  const host = obj(item.host);
  const participant = obj(fixed.participant);
  const confirmations = Array.isArray(item.confirmations) ? item.confirmations : [];
  const sendingOrg = fixed.sending_organisation ?? '';
  const receivingOrg = fixed.receiving_organisation ?? '';
  const id = String(item.id ?? '');
  const weSend = ownerOf(sendingOrg) === selfId && ownerOf(id) === selfId;
  const weHost = ownerOf(receivingOrg) === selfId;
  return {
    id,
    owner: ownerOf(id),
    raw: item,
    sendingOrg,
    receivingOrg,
    pseudonym: participant.pseudonym ?? '',
    commitment: obj(participant.personal).commitment ?? null,
    personal: obj(item.personal_data),
    personalStatus: personalStatus(item, obj(participant.personal).commitment ?? null),
    type: fixed.type ?? '',
    category: fixed.category ?? '',
    sending,
    host,
    status: sending.status ?? 'draft',
    hostStatus: host.host_status ?? 'pending',
    start: sending.planned_start ?? '',
    end: sending.planned_end ?? '',
    confirmations,
    confirmSending: confirmationOf(confirmations, 'sending'),
    confirmHost: confirmationOf(confirmations, 'host'),
    agreedDelta: item.agreed_delta ?? null,
    weSend,
    weHost,
    direction: weSend ? 'outgoing' : weHost ? 'incoming' : 'other',
    // The organisation on the other side, as this node sees it.
    partnerOrg: weSend ? receivingOrg : sendingOrg,
    updated: item.updated ?? null,
    rejected: Array.isArray(item.rejected) ? item.rejected : [],
  };
}

export function normaliseContact(item, selfId) {
  const id = String(item.id ?? '');
  const personal = obj(item.personal_data);
  return {
    id,
    owner: ownerOf(id),
    own: ownerOf(id) === selfId,
    organisation: item.organisation ?? '',
    displayName: item.display_name ?? '',
    roles: Array.isArray(item.roles) ? item.roles.filter((r) => typeof r === 'string') : [],
    languages: Array.isArray(item.languages) ? item.languages.filter((l) => l && l.lang) : [],
    personal,
    personalStatus: personalStatus(item, obj(item.personal).commitment ?? null),
    audience: normaliseAudience(item.audience),
  };
}

// The fields of each group, in the order the detail page shows them, with
// the input each takes ("date", "text", "number", "bool", an enum list, or
// "ref" for record ids shown read-only).
export const SENDING_FIELDS = [
  ['placement', 'ref'],
  ['window_id', 'number'],
  ['planned_start', 'date'],
  ['planned_end', 'date'],
  ['qualification_title', 'text'],
  ['eqf_level', 'number'],
  ['languages', 'languages'],
  ['status', 'status'],
  ['safety_briefing', 'date'],
  ['europass_number', 'text'],
];
// Fields placement … eqf_level (and languages, as DESIGN §3's "what") are
// the agreed fields a confirmation signs.
export const AGREED_FIELDS = new Set(['placement', 'window_id', 'planned_start', 'planned_end', 'qualification_title', 'eqf_level']);
export const HOST_FIELDS = [
  ['host_status', ['pending', 'accepted', 'rejected']],
  ['mentor', 'ref'],
  ['actual_arrival', 'date'],
  ['actual_departure', 'date'],
  ['attendance_confirmed', 'bool'],
  ['units_achieved', 'number'],
  ['assessment_date', 'date'],
];
export const STATUSES = ['draft', 'nominated', 'live', 'completed', 'recognised', 'cancelled'];
export const TYPES = [
  'learner_otj_company',
  'learner_school_period',
  'teacher_exchange',
  'job_shadowing',
  'expert_meeting',
  'study_visit',
  'partner_meeting',
  'language_culture_training',
];
export const CATEGORIES = [
  'ivet_learner',
  'apprentice',
  'recent_graduate',
  'teacher',
  'trainer',
  'other_staff',
  'expert',
  'accompanying_person',
];
export const CONTACT_ROLES = [
  'mobility_coordinator',
  'mentor',
  'supervisor',
  'teacher',
  'safety_officer',
  'company_manager',
  'signatory',
  'expert',
];
export const ORG_TYPES = ['vet_school', 'sme', 'large_enterprise', 'public_body', 'ngo', 'chamber', 'hei', 'other'];

// "fi:B1, en:B2" <-> [{lang, level}]
export function languagesText(list) {
  return (list || []).map((l) => l.lang + (l.level ? ':' + l.level : '')).join(', ');
}

export function parseLanguages(text) {
  const out = [];
  for (const part of String(text || '').split(/[,;]/)) {
    const p = part.trim();
    if (!p) continue;
    const [lang, level] = p.split(':').map((x) => x.trim());
    out.push(level ? { lang: lang.toLowerCase(), level: level.toUpperCase() } : { lang: lang.toLowerCase() });
  }
  return out;
}
