// A keyed list that renders only as many items as the reader has scrolled
// to (a chunk at a time), and on update reuses the DOM of items whose
// content did not change. So 5,000 placements cost one chunk of DOM at first,
// a live update touches only the rows that changed, and keyboard focus on an
// unchanged row survives a refresh.
import { t } from './i18n.js';

export class IncrementalList {
  // container: the element holding one node per item (a <tbody>, a <div>).
  // more: a button that renders the next chunk; it is also watched, so
  // scrolling it into view does the same.
  constructor(container, more, { chunk = 100, key, signature, render }) {
    this.container = container;
    this.more = more;
    this.chunk = chunk;
    this.key = key;
    this.signature = signature;
    this.render = render;
    this.items = [];
    this.limit = chunk;
    this.nodes = new Map(); // key -> {sig, node}
    more.addEventListener('click', () => this.grow());
    if ('IntersectionObserver' in window) {
      this.observer = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting) && this.remaining() > 0) this.grow();
      }, { rootMargin: '400px' });
      this.observer.observe(more);
    }
  }

  remaining() {
    return Math.max(0, this.items.length - this.limit);
  }

  setItems(items) {
    this.items = items;
    this.paint();
  }

  grow() {
    this.limit += this.chunk;
    this.paint();
  }

  // Renders every item (used by the render-time measurement).
  renderAll() {
    this.limit = Math.max(this.limit, this.items.length);
    this.paint();
  }

  // Drops the cached rows (after a language change every row differs).
  invalidate() {
    this.nodes.clear();
    this.paint();
  }

  paint() {
    const n = Math.min(this.items.length, this.limit);
    const active = document.activeElement;
    const focusKey = active && this.container.contains(active) ? active.dataset.focusKey : undefined;
    const next = new Map();
    const wanted = [];
    for (let i = 0; i < n; i++) {
      const item = this.items[i];
      const k = this.key(item);
      const sig = this.signature(item);
      let entry = this.nodes.get(k);
      if (!entry || entry.sig !== sig) entry = { sig, node: this.render(item) };
      next.set(k, entry);
      wanted.push(entry.node);
    }
    this.nodes = next;
    const c = this.container;
    let ref = c.firstChild;
    let i = 0;
    // Skip the prefix that is already in place, then insert the rest in
    // one fragment when the tail is all new (the common first paint).
    while (i < wanted.length && wanted[i] === ref) {
      ref = ref.nextSibling;
      i++;
    }
    for (; i < wanted.length; i++) {
      const node = wanted[i];
      if (node === ref) {
        ref = ref.nextSibling;
        continue;
      }
      if (!node.parentNode && ref === null) {
        const frag = document.createDocumentFragment();
        for (; i < wanted.length; i++) frag.append(wanted[i]);
        c.append(frag);
        break;
      }
      c.insertBefore(node, ref);
    }
    while (ref) {
      const after = ref.nextSibling;
      ref.remove();
      ref = after;
    }
    if (focusKey !== undefined && !c.contains(document.activeElement)) {
      const again = c.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
    const left = this.remaining();
    this.more.hidden = left === 0;
    this.more.textContent = t('show_more', { n: left });
  }
}
