// Keyboard shortcuts (listed in the help overlay of templates/studies/viewer.html).

const TOOL_KEYS = { e: 'EllipticalROI', r: 'RectangleROI', f: 'PlanarFreehandROI', w: 'WindowLevel', m: 'Pan', z: 'Zoom' };

const typing = (t) => t instanceof HTMLElement && (t.isContentEditable || ['INPUT', 'SELECT', 'TEXTAREA'].includes(t.tagName));

/** `cmd` is an object of callbacks; unknown keys fall through to the browser. */
export function bindKeys(cmd) {
  document.addEventListener('keydown', (e) => {
    if (document.querySelector('dialog[open]')) return; // a modal dialog (submit confirmation) has the keys
    if (e.key === 'Escape') {
      cmd.escape();
      return;
    }
    if (typing(e.target) || e.altKey) return;
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
      e.preventDefault();
      cmd.submit();
      return;
    }
    if (e.ctrlKey || e.metaKey) return; // leave browser shortcuts alone
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    let handled = true;
    if (e.shiftKey && /^Digit[1-9]$/.test(e.code)) cmd.preset(Number(e.code.slice(5)) - 1);
    else if (/^[1-9]$/.test(key)) cmd.selectIndex(Number(key) - 1);
    else if (key in TOOL_KEYS) cmd.tool(TOOL_KEYS[key]);
    else if (key === '0') cmd.reset();
    else if (key === 'n') cmd.nextMissing();
    else if (key === 'x') cmd.exclude();
    else if (key === '?') cmd.help();
    else if (key === 'o') cmd.overlays();
    else if (key === 'ArrowUp' || key === 'ArrowLeft') cmd.scroll(-1);
    else if (key === 'ArrowDown' || key === 'ArrowRight') cmd.scroll(1);
    else if (key === 'PageUp') cmd.scroll(-3);
    else if (key === 'PageDown') cmd.scroll(3);
    else if (key === 'Home') cmd.middle();
    else if (key === 'Delete' || key === 'Backspace') cmd.deleteSelected();
    else handled = false;
    if (handled) e.preventDefault();
  });
}
