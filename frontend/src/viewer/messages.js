// The viewer's own words in one place, so a translation (issue #18 point 7) replaces one catalogue.
//
// t(key, params) fills {name} placeholders; a missing key shows the key itself (visible in tests, never blank).
// Strings still written inline elsewhere in the viewer move here as they are touched.

const EN = {
  // Overlays on the image (orientation, window, zoom, slice, scale)
  'overlay.window': 'W {width} L {center}',
  'overlay.zoom': 'Zoom {zoom}×',
  'overlay.slice': 'Slice {index} / {total}',
  'overlay.position': 'Pos {mm} mm',
  'overlay.scale': '{mm} mm',
  'overlay.toggle': 'Overlays: orientation, window, zoom, slice, scale (O)',
  // Window presets: named by what they show on a T1-weighted spine MR (values derive from the image's window)
  'preset.auto': 'Auto',
  'preset.marrow': 'T1 marrow',
  'preset.csf': 'CSF',
  'preset.full': 'Full range',
  // Exclusion form
  'exclude.reason': 'Reason…',
  'exclude.note': 'Note (needed for Other)',
  'exclude.noteRequired': 'Describe why {label} is excluded: a note is needed when the reason is “Other”.',
  'exclude.reasonRequired': 'Choose why {label} is excluded.',
  'exclude.kept': 'excluded: {reason}{note} · ROI kept, left out of the scores',
  'exclude.undo': 'Undo the exclusion of {label} (its ROI comes back)',
  // Drawing hint and setting
  'hint.ellipseCentre': 'Ellipses draw from the centre.',
  'hint.ellipseCorner': 'Ellipses draw corner to corner.',
  'hint.ellipseTitle': 'Centre out: press in the middle of the vertebra and drag to its edge. Corner: drag across the vertebra from one corner of its box to the opposite one.',
  'setting.ellipseCorner': 'From a corner',
};

let catalogue = EN;

/** Install another language's catalogue (falls back to English key by key). */
export function setMessages(messages) {
  catalogue = { ...EN, ...messages };
}

export function t(key, params = {}) {
  const text = catalogue[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}
