// One line under the protocol hint: how an ellipse is drawn, and the reader's setting to draw it from a corner.
// Cornerstone draws ellipses from the centre out; a reader used to corner-to-corner boxes would otherwise draw an
// ellipse twice the intended size without noticing.
import { t } from './messages.js';
import { setSetting, settings } from './settings.js';

export function mountDrawingHint(box) {
  if (!box) return;
  const text = document.createElement('span');
  text.className = 'vw-draw-text';
  const label = document.createElement('label');
  label.className = 'vw-setting';
  const check = document.createElement('input');
  check.type = 'checkbox';
  check.id = 'vw-ellipse-corner';
  check.checked = settings.ellipseFromCorner;
  label.append(check, ` ${t('setting.ellipseCorner')}`);
  const show = () => {
    text.textContent = t(settings.ellipseFromCorner ? 'hint.ellipseCorner' : 'hint.ellipseCentre');
    box.dataset.mode = settings.ellipseFromCorner ? 'corner' : 'centre';
  };
  check.addEventListener('change', () => {
    setSetting('ellipseFromCorner', check.checked);
    show();
    check.blur(); // give the keys back to the viewer
  });
  box.title = t('hint.ellipseTitle');
  box.replaceChildren(text, label);
  show();
}
