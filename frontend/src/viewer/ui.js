// Small DOM pieces around the viewport: notices, save status, checks, help overlay, ROI name tags.
import { annotation } from '@cornerstonejs/tools';

import { t } from './messages.js';
import { labelColor, labelName } from './protocol.js';
import { annotationWorldPoints } from './tools.js';

const $ = (id) => document.getElementById(id);

/** Transient or sticky messages over the image. kind: info | warn | error. Returns the element. */
export function notice(text, { kind = 'info', id = null, sticky = kind !== 'info' } = {}) {
  const box = $('vw-notices');
  if (id) box.querySelector(`[data-notice="${id}"]`)?.remove();
  const item = document.createElement('div');
  item.className = `vw-notice ${kind}`;
  item.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  if (id) item.dataset.notice = id;
  const span = document.createElement('span');
  span.textContent = text;
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'vw-notice-close';
  close.setAttribute('aria-label', t('notice.dismiss'));
  close.textContent = '×';
  close.onclick = () => item.remove();
  item.append(span, close);
  box.append(item);
  if (!sticky) setTimeout(() => item.remove(), 6000);
  return item;
}

/** "All changes saved" / "Saving…" / "Unsaved changes" in the panel header (+ body data attribute for tests). */
export function renderSaveStatus({ pending, failed, lastError, nextRetryAt }) {
  const box = $('vw-save');
  let state = 'saved';
  let text = t('save.saved');
  if (failed > 0) {
    state = 'unsaved';
    const secs = nextRetryAt ? Math.max(0, Math.round((nextRetryAt - Date.now()) / 1000)) : 0;
    const why = t(lastError?.status === 0 ? 'save.offline' : lastError?.status === 401 ? 'save.expired' : 'save.unreachable');
    text = t('save.unsaved', { why, when: secs ? t('save.retryIn', { secs }) : '' });
  } else if (pending > 0) {
    state = 'saving';
    text = t('save.saving');
  }
  box.dataset.state = state;
  box.querySelector('.vw-save-text').textContent = text;
  box.querySelector('[data-action="retry"]').hidden = state !== 'unsaved';
  document.body.dataset.saveState = state;
}

/**
 * Problems block submission, warnings do not. While ROIs are still missing, one "still to do" line replaces
 * the server's per-ROI sentences (the protocol rows above already say it).
 */
export function renderChecks({ problems, warnings }, { editable, pending, missing }) {
  const list = (ul, items, cls) => {
    ul.replaceChildren(
      ...items.map((item) => {
        const li = document.createElement('li');
        li.className = cls;
        li.textContent = item;
        return li;
      }),
    );
  };
  const shown = !editable ? [] : missing.length ? [t('checks.todo', { labels: missing.join(', ') })] : problems;
  list($('vw-problems'), shown, 'vw-problem');
  list($('vw-warnings'), warnings, 'vw-warning');
  const submit = $('vw-submit');
  submit.disabled = !editable || pending > 0 || problems.length > 0 || missing.length > 0;
  submit.title = problems.length ? problems.join('\n') : pending ? t('submit.waiting') : t('submit.go');
}

export function setHelpOpen(open) {
  const help = $('vw-help');
  help.hidden = !open;
  if (open) help.querySelector('[data-action="help-close"]').focus();
}

export const isHelpOpen = () => !$('vw-help').hidden;

/**
 * Name tags (L1, CSF…) above each ROI on the shown slice. Our own layer with pointer-events: none, so a tag
 * never catches the mouse-down that starts the next ROI (unlike Cornerstone's text boxes).
 */
export function renderNameTags(viewport, uidOf) {
  const layer = $('vw-labels');
  const imageId = viewport.getCurrentImageId();
  const seen = new Set();
  for (const [label, uid] of uidOf) {
    const a = annotation.state.getAnnotation(uid);
    let tag = layer.querySelector(`[data-tag="${label}"]`);
    if (!a || a.metadata.referencedImageId !== imageId) {
      tag?.remove();
      continue;
    }
    const pts = annotationWorldPoints(a).map((p) => viewport.worldToCanvas(p));
    if (!pts.length) continue;
    const xs = pts.map((p) => p[0]);
    const ys = pts.map((p) => p[1]);
    if (!tag) {
      tag = document.createElement('span');
      tag.className = 'vw-tag';
      tag.dataset.tag = label;
      tag.textContent = labelName(label);
      tag.style.color = labelColor(label);
      layer.append(tag);
    }
    const top = Math.min(...ys);
    tag.style.left = `${Math.min(...xs)}px`;
    tag.style.top = `${top > 20 ? top - 19 : Math.max(...ys) + 2}px`;
    seen.add(label);
  }
  layer.querySelectorAll('[data-tag]').forEach((tag) => {
    if (!seen.has(tag.dataset.tag)) tag.remove();
  });
}
