// The guided ROI protocol: which ROIs a read needs, in which order, with which tool — and its side panel.
//
// Rows are built once and then updated in place, so an open "exclude" form or a focused select survives
// the frequent updates (saves, score polling).

export const LEVELS = ['L1', 'L2', 'L3', 'L4'];

const DISPLAY = {
  L1: { name: 'L1', tool: 'EllipticalROI', color: '#ffd23f' },
  L2: { name: 'L2', tool: 'EllipticalROI', color: '#4fd1ff' },
  L3: { name: 'L3', tool: 'EllipticalROI', color: '#7dff6b' },
  L4: { name: 'L4', tool: 'EllipticalROI', color: '#ff8ad8' },
  CSF: { name: 'CSF', tool: 'RectangleROI', color: '#b79cff' },
  NOISE: { name: 'Noise', tool: 'RectangleROI', color: '#ffa94d' },
};

export const labelName = (label) => DISPLAY[label]?.name || label;
export const labelColor = (label) => DISPLAY[label]?.color || '#ffff00';
export const defaultTool = (label) => DISPLAY[label]?.tool || 'EllipticalROI';
/** Labels that share a tool preference: picking the polygon for L2 also makes it the tool for L3, L4. */
export const toolGroupOf = (label) => (LEVELS.includes(label) ? 'levels' : label);

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
    const isLevel = LEVELS.includes(label);
    const select = el(
      'button',
      { type: 'button', class: 'vw-roi-select', 'data-select': label, title: `Draw ${labelName(label)} next (${index + 1})`, onclick: () => actions.select(label) },
      el('span', { class: 'vw-swatch', style: `background:${labelColor(label)}` }),
      el('span', { class: 'vw-roi-name', text: labelName(label) }),
      el('kbd', { text: String(index + 1) }),
    );
    const status = el('span', { class: 'vw-roi-status' });
    const stats = el('div', { class: 'vw-stats', 'data-stats': label });
    const actionsBox = el('div', { class: 'vw-roi-actions' });
    let csfSelect = null;
    let csfBox = null;
    if (label === 'CSF') {
      csfSelect = el(
        'select',
        { class: 'vw-csf-level', id: 'vw-csf-level', title: 'CSF is measured behind L3; use L2 or L1 only when L3 CSF is obscured', onchange: (e) => actions.csfLevel(e.target.value) },
        el('option', { value: 'L3', text: 'L3' }),
        el('option', { value: 'L2', text: 'L2 (L3 obscured)' }),
        el('option', { value: 'L1', text: 'L1 (L2, L3 obscured)' }),
      );
      csfBox = el('div', { class: 'vw-roi-extra' }, el('label', { for: 'vw-csf-level', text: 'CSF level' }), csfSelect);
    }
    let excludeForm = null;
    const excludeBtn = isLevel
      ? el('button', { type: 'button', class: 'vw-small', 'data-exclude': label, onclick: () => toggleExclude(label) }, 'Exclude…')
      : null;
    const includeBtn = isLevel
      ? el('button', { type: 'button', class: 'vw-small', 'data-include': label, title: `Undo the exclusion of ${label}`, onclick: () => actions.include(label) }, 'Undo')
      : null;
    const removeBtn = el(
      'button',
      { type: 'button', class: 'vw-small vw-danger', 'data-remove': label, title: `Delete the ${labelName(label)} ROI`, onclick: () => actions.remove(label) },
      'Delete',
    );
    actionsBox.append(...[excludeBtn, includeBtn, removeBtn].filter(Boolean));
    if (isLevel) {
      const reason = el(
        'select',
        { name: 'reason', required: true, 'aria-label': `Reason for excluding ${label}` },
        el('option', { value: '', text: 'Reason…' }),
        ...cfg.exclusionReasons.map((r) => el('option', { value: r.value, text: r.label })),
      );
      const note = el('input', { name: 'note', type: 'text', maxlength: '200', placeholder: 'Note (required for “other”)', 'aria-label': 'Note' });
      excludeForm = el(
        'form',
        {
          class: 'vw-exclude',
          'data-exclude-form': label,
          hidden: true,
          onsubmit: (e) => {
            e.preventDefault();
            if (!reason.value) return reason.focus();
            if (reason.value === 'other' && !note.value.trim()) return note.focus();
            actions.exclude(label, reason.value, note.value.trim());
            closeExclude();
          },
        },
        reason,
        note,
        el('div', { class: 'actions' }, el('button', { type: 'submit', class: 'primary vw-small' }, `Exclude ${label}`), el('button', { type: 'button', class: 'vw-small', onclick: () => closeExclude() }, 'Cancel')),
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
      let text = 'to draw';
      if (roi?.excluded) {
        kind = 'excluded';
        const reason = state.cfg.exclusionReasons.find((r) => r.value === roi.exclusion_reason)?.label || roi.exclusion_reason;
        text = `excluded: ${reason}${roi.exclusion_note ? ` (${roi.exclusion_note})` : ''}`;
      } else if (drawnLocally || roi) {
        kind = 'drawn';
        const slice = state.sliceOfLabel(label);
        text = slice ? `slice ${slice}` : 'drawn';
        if (label === 'CSF' && roi?.csf_level && roi.csf_level !== 'L3') text += ` · at ${roi.csf_level}`;
      }
      if (saving) text += ' · saving…';
      if (state.failedLabels.has(label)) text += ' · not saved yet';
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
    const msg = roi.score_status === 'error' ? `Could not measure: ${roi.score_error}` : 'measuring…';
    box.replaceChildren(el('span', { class: 'vw-stats-msg', text: msg }));
    return;
  }
  const s = roi.stats;
  const cells = [
    ['n', 'n', String(s.n), s.n],
    ['area', 'mm²', fmt(s.area_mm2, 0), s.area_mm2],
    ['mean', 'mean', fmt(s.mean), s.mean],
    ['median', 'median', fmt(s.median), s.median],
    ['sd', 'SD', fmt(s.sd), s.sd],
  ];
  box.replaceChildren(
    ...cells.map(([key, name, text, value]) =>
      el('span', { class: 'vw-stat' }, el('span', { class: 'vw-stat-name', text: name }), el('span', { class: 'vw-stat-value', 'data-stat': key, 'data-value': String(value), text })),
    ),
  );
}
