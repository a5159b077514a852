// The "request a reservation" dialog: pick a window and a number of slots;
// the request goes to this node, which signs it and syncs it to the host.
import { t } from './i18n.js';
import { windowDates } from './bars.js';
import { placementTitle } from './placements.js';

const $ = (id) => document.getElementById(id);
let wired = false;
let current = null; // {placement, submit, opener}

function wire() {
  if (wired) return;
  wired = true;
  const dialog = $('reserve-dialog');
  const windowSelect = $('reserve-window');
  windowSelect.addEventListener('change', () => limitSlots());
  $('reserve-cancel').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    if (current && current.opener && document.contains(current.opener)) current.opener.focus();
    current = null;
  });
  $('reserve-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!current) return;
    const err = $('reserve-error');
    const button = ev.submitter || $('reserve-form').querySelector('button[type=submit]');
    const body = { window_id: Number(windowSelect.value), slots: Number($('reserve-slots').value) };
    const note = $('reserve-note').value.trim();
    if (note) body.note = note;
    button.disabled = true;
    try {
      await current.submit(body);
      dialog.close();
    } catch (e) {
      err.textContent = t('error', { detail: e.detail || e.message });
      err.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
}

function limitSlots() {
  if (!current) return;
  const w = current.placement.windows.find((x) => x.id === Number($('reserve-window').value));
  const slots = $('reserve-slots');
  slots.max = String(Math.max(1, w ? w.free : 1));
  if (Number(slots.value) > Number(slots.max)) slots.value = slots.max;
}

export function openReserveDialog(placement, windowId, opener, submit) {
  wire();
  current = { placement, submit, opener };
  $('reserve-what').textContent = placementTitle(placement) + (placement.city ? ' · ' + placement.city : '');
  const select = $('reserve-window');
  select.replaceChildren(
    ...placement.windows.map((w) => {
      const o = new Option(`${windowDates(w)} (${w.free} ${t('free')})`, String(w.id));
      o.disabled = w.free === 0;
      return o;
    }),
  );
  select.value = String(windowId);
  $('reserve-slots').value = '1';
  $('reserve-note').value = '';
  $('reserve-error').hidden = true;
  limitSlots();
  $('reserve-dialog').showModal();
  $('reserve-slots').focus();
}
