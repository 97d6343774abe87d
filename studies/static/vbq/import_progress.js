// Import page: live progress. Poll this page's JSON until the job finishes, then reload for the report.
// (A static file, not an inline script: the Content-Security-Policy allows scripts from this site only.)
(function poll() {
  const box = document.getElementById('job');
  if (!box || box.dataset.status === 'done' || box.dataset.status === 'failed') return;
  setTimeout(async () => {
    const r = await fetch(location.href, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (!r.ok) return;
    const j = await r.json();
    document.getElementById('job-progress').value = j.total ? Math.round(100 * j.done / j.total) : 0;
    const counts = document.getElementById('job-counts');
    counts.textContent = `${j.done} / ${j.total} ${counts.dataset.filesLabel || 'files'}`;
    if (j.status === 'done' || j.status === 'failed') location.reload(); else poll();
  }, 1000);
})();
