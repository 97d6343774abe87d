// The reader's viewer preferences, kept in this browser (localStorage): how ellipses are drawn, overlays shown.
// Preferences only: nothing here changes what is measured or stored on the server.

const KEY = 'vbq.viewer.settings';
const DEFAULTS = { ellipseFromCorner: false, overlays: true };

function load() {
  try {
    return { ...DEFAULTS, ...JSON.parse(localStorage.getItem(KEY) || '{}') };
  } catch {
    return { ...DEFAULTS }; // storage disabled or a corrupt value: the defaults
  }
}

export const settings = load();

export function setSetting(name, value) {
  settings[name] = value;
  try {
    localStorage.setItem(KEY, JSON.stringify(settings));
  } catch {
    /* private mode without storage: the setting lasts for this page */
  }
}
