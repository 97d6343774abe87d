// The guided ROI protocol: which ROIs a read needs, in which order, with which tool — and its side panel.
//
// Rows are built once and then updated in place, so an open "exclude" form or a focused select survives
// the frequent updates (saves, score polling).

//
// The protocol itself (labels, names, colours, first tool, which ROI is a level, the CSF level fallback) is the
// server's (studies/protocol), sent in the page config as cfg.protocol; setProtocol() installs it.

import { t } from './messages.js';
import { TOOL_OF_SHAPE } from './tools.js';

let DISPLAY = {};

/** Install the server's protocol: [{label, name, help, role, tool (shape), color, excludable, levels?}]. */
export function setProtocol(entries) {
  DISPLAY = Object.fromEntries(entries.map((p) => [p.label, p]));
}

export const isLevel = (label) => DISPLAY[label]?.role === 'level';
/** The reference ROI (CSF), placed at one of several levels (`levels`, first = default). */
export const isReference = (label) => DISPLAY[label]?.role === 'reference';
export const labelName = (label) => DISPLAY[label]?.name || label;
export const labelColor = (label) => DISPLAY[label]?.color || '#ffff00';
export const defaultTool = (label) => TOOL_OF_SHAPE[DISPLAY[label]?.tool] || TOOL_OF_SHAPE.ellipse;
/** Labels that share a tool preference: picking the polygon for L2 also makes it the tool for L3, L4. */
export const toolGroupOf = (label) => (isLevel(label) ? 'levels' : label);

/** Options of the reference level select: the default level, then each fallback naming what it skips. */
function referenceLevelOptions(levels) {
  return levels.map((lv, i) => ({ value: lv, text: i === 0 ? lv : `${lv} (${levels.slice(0, i).reverse().join(', ')} obscured)` }));
}

const fmt = (v, digits = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–');

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/**
 * Build the panel. `actions`: select(label), exclude(label, reason, note), include(label), remove(label),
 * csfLevel(level). Returns {update(state), openExclude(label), closeExclude()}.
 */
export function buildProtocolPanel(root, cfg, actions) {
  const rows = new Map();
  root.replaceChildren();
  cfg.protocol.forEach(({ label, help }, index) => {
    const level = isLevel(label);
    const select = el(
      'button',
      { type: 'button', class: 'vw-roi-select', 'data-select': label, title: t('roi.drawNext', { name: labelName(label), key: index + 1 }), onclick: () => actions.select(label) },
      el('span', { class: 'vw-swatch', style: `background:${labelColor(label)}` }),
      el('span', { class: 'vw-roi-name', text: labelName(label) }),
      el('kbd', { text: String(index + 1) }),
    );
    const status = el('span', { class: 'vw-roi-status' });
    const stats = el('div', { class: 'vw-stats', 'data-stats': label });
    const actionsBox = el('div', { class: 'vw-roi-actions' });
    let csfSelect = null;
    let csfBox = null;
    if (isReference(label)) {
      const [first, ...fallback] = DISPLAY[label].levels;
      csfSelect = el(
        'select',
        { class: 'vw-csf-level', id: 'vw-csf-level', title: `${labelName(label)} is measured behind ${first}; use ${fallback.join(' or ')} only when ${first} ${labelName(label)} is obscured`, onchange: (e) => actions.csfLevel(e.target.value) },
        ...referenceLevelOptions(DISPLAY[label].levels).map((o) => el('option', o)),
      );
      csfBox = el('div', { class: 'vw-roi-extra' }, el('label', { for: 'vw-csf-level', text: `${labelName(label)} level` }), csfSelect);
    }
    let excludeForm = null;
    const excludeBtn = level
      ? el('button', { type: 'button', class: 'vw-small', 'data-exclude': label, onclick: () => toggleExclude(label) }, t('roi.exclude'))
      : null;
    const includeBtn = level
      ? el('button', { type: 'button', class: 'vw-small', 'data-include': label, title: t('exclude.undo', { label }), onclick: () => actions.include(label) }, t('roi.undo'))
      : null;
    const removeBtn = el(
      'button',
      { type: 'button', class: 'vw-small vw-danger', 'data-remove': label, title: t('roi.deleteTitle', { name: labelName(label) }), onclick: () => actions.remove(label) },
      t('roi.delete'),
    );
    actionsBox.append(...[excludeBtn, includeBtn, removeBtn].filter(Boolean));
    if (level) {
      const reason = el(
        'select',
        { name: 'reason', required: true, 'aria-label': t('exclude.reasonLabel', { label }) },
        el('option', { value: '', text: t('exclude.reason') }),
        ...cfg.exclusionReasons.map((r) => el('option', { value: r.value, text: r.label })),
      );
      const msgId = `vw-exclude-msg-${label}`;
      const note = el('input', { name: 'note', type: 'text', maxlength: '200', placeholder: t('exclude.note'), 'aria-label': t('exclude.note'), 'aria-describedby': msgId });
      // A visible sentence, not just focus: "Other" needs a note (the server refuses it without one, too).
      const message = el('p', { class: 'vw-exclude-msg', id: msgId, role: 'alert', 'data-exclude-msg': label });
      const say = (text, field) => {
        message.textContent = text;
        note.toggleAttribute('aria-invalid', field === note);
        reason.toggleAttribute('aria-invalid', field === reason);
        field?.focus();
      };
      reason.addEventListener('change', () => {
        note.required = reason.value === 'other';
        say('', null);
      });
      note.addEventListener('input', () => note.value.trim() && message.textContent && say('', null));
      excludeForm = el(
        'form',
        {
          class: 'vw-exclude',
          'data-exclude-form': label,
          hidden: true,
          novalidate: true, // our own message below, in the reader's words, instead of the browser's bubble
          onsubmit: (e) => {
            e.preventDefault();
            if (!reason.value) return say(t('exclude.reasonRequired', { label }), reason);
            if (reason.value === 'other' && !note.value.trim()) return say(t('exclude.noteRequired', { label }), note);
            say('', null);
            actions.exclude(label, reason.value, note.value.trim());
            closeExclude();
          },
        },
        reason,
        note,
        message,
        el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary vw-small' }, t('exclude.submit', { label })), el('button', { type: 'button', class: 'vw-small', onclick: () => closeExclude() }, t('exclude.cancel'))),
      );
    }
    const helpText = el('p', { class: 'vw-roi-help', text: help });
    const error = el('p', { class: 'vw-roi-error', role: 'alert' });
    const li = el(
      'li',
      { class: 'vw-roi', 'data-label': label },
      el('div', { class: 'vw-roi-head' }, select, status, actionsBox),
      stats,
      csfBox,
      error,
      helpText,
      excludeForm,
    );
    root.append(li);
    rows.set(label, { li, status, stats, error, csfSelect, excludeBtn, includeBtn, removeBtn, excludeForm, helpText });
  });

  let openLabel = null;
  function toggleExclude(label) {
    if (openLabel === label) closeExclude();
    else openExclude(label);
  }
  function openExclude(label) {
    closeExclude();
    const row = rows.get(label);
    if (!row?.excludeForm) return;
    openLabel = label;
    row.excludeForm.hidden = false;
    row.excludeForm.elements.reason.focus();
  }
  function closeExclude() {
    if (!openLabel) return;
    const form = rows.get(openLabel).excludeForm;
    form.hidden = true;
    form.reset();
    form.querySelector('.vw-exclude-msg').textContent = '';
    form.querySelectorAll('[aria-invalid]').forEach((f) => f.removeAttribute('aria-invalid'));
    openLabel = null;
  }

  function update(state) {
    for (const [label, row] of rows) {
      const pendingExclusion = state.pendingExclusion.get(label);
      const roi = pendingExclusion
        ? { excluded: true, exclusion_reason: pendingExclusion.reason, exclusion_note: pendingExclusion.note }
        : state.rois.get(label);
      const drawnLocally = state.uidOf.has(label);
      const saving = state.pendingLabels.has(label);
      let kind = 'missing';
      let text = t('roi.toDraw');
      if (roi?.excluded) {
        kind = 'excluded';
        const reason = state.cfg.exclusionReasons.find((r) => r.value === roi.exclusion_reason)?.label || roi.exclusion_reason;
        text = roi.points_px?.length || state.uidOf.has(label)
          ? t('exclude.kept', { reason, note: roi.exclusion_note ? ` (${roi.exclusion_note})` : '' })
          : t('exclude.leftOut', { reason, note: roi.exclusion_note ? ` (${roi.exclusion_note})` : '' });
      } else if (drawnLocally || roi) {
        kind = 'drawn';
        const slice = state.sliceOfLabel(label);
        text = slice ? t('roi.slice', { slice }) : t('roi.drawn');
        if (isReference(label) && roi?.csf_level && roi.csf_level !== DISPLAY[label].levels[0]) text += t('roi.csfAt', { level: roi.csf_level });
      }
      if (saving) text += t('roi.saving');
      if (state.failedLabels.has(label)) text += t('roi.notSaved');
      row.li.dataset.state = kind;
      row.li.classList.toggle('is-selected', state.selected === label);
      row.li.classList.toggle('is-unsaved', saving);
      if (state.selected === label) row.li.setAttribute('aria-current', 'step');
      else row.li.removeAttribute('aria-current');
      row.status.textContent = text;
      row.error.textContent = state.rowError.get(label) || '';
      renderStats(row.stats, roi, kind);
      if (row.csfSelect && document.activeElement !== row.csfSelect) row.csfSelect.value = state.csfLevel;
      const editable = state.editable;
      if (row.excludeBtn) row.excludeBtn.hidden = !editable || kind === 'excluded';
      if (row.includeBtn) row.includeBtn.hidden = !editable || kind !== 'excluded';
      row.removeBtn.hidden = !editable || kind !== 'drawn';
      if (row.csfSelect) row.csfSelect.disabled = !editable;
    }
  }

  return { update, openExclude, closeExclude, isExcludeOpen: () => openLabel !== null };
}

function renderStats(box, roi, kind) {
  if (kind !== 'drawn' || !roi) {
    box.replaceChildren();
    box.dataset.status = kind;
    return;
  }
  box.dataset.status = roi.score_status;
  if (roi.score_status === 'pending' || !roi.stats) {
    const msg = roi.score_status === 'error' ? t('roi.measureError', { error: roi.score_error }) : t('roi.measuring');
    box.replaceChildren(el('span', { class: 'vw-stats-msg', text: msg }));
    return;
  }
  // Only what the server sent: a blinded reader gets n and area, or nothing (the study's setting).
  const s = roi.stats;
  const cells = [
    ['n', 'n', 'n', (v) => String(v)],
    ['area', 'area_mm2', 'mm²', (v) => fmt(v, 0)],
    ['mean', 'mean', 'mean', (v) => fmt(v)],
    ['median', 'median', 'median', (v) => fmt(v)],
    ['sd', 'sd', 'SD', (v) => fmt(v)],
  ]
    .filter(([, field]) => field in s)
    .map(([key, field, name, format]) => [key, name, format(s[field]), s[field]]);
  box.replaceChildren(
    ...cells.map(([key, name, text, value]) =>
      el('span', { class: 'vw-stat' }, el('span', { class: 'vw-stat-name', text: name }), el('span', { class: 'vw-stat-value', 'data-stat': key, 'data-value': String(value), text })),
    ),
  );
}
