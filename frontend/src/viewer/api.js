// REST calls (session cookie + CSRF) and the per-ROI save queue that never drops a change.

import { t } from './messages.js';

let csrfToken = '';

/** The page config carries the token (works with CSRF_COOKIE_HTTPONLY); the cookie is the fallback. */
export function setCsrfToken(token) {
  csrfToken = token || '';
}

function csrf() {
  return csrfToken || document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/)?.[1] || '';
}

/** An HTTP answer other than 2xx (status 0 = the request never reached the server). */
export class ApiError extends Error {
  constructor(status, body, message) {
    super(message);
    this.status = status;
    this.body = body || {};
  }

  /** Worth retrying later: offline, timeouts, server errors, an expired session (the user may log in again). */
  get transient() {
    return this.status === 0 || this.status === 401 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export async function api(method, url, body) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: {
        Accept: 'application/json',
        'Content-Type': 'application/json',
        'X-CSRFToken': csrf(),
        'X-Requested-With': 'XMLHttpRequest',
      },
    });
  } catch (err) {
    throw new ApiError(0, null, t('api.offline', { error: err.message }));
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null; // an HTML error page: keep the status, use a generic message
  }
  if (!response.ok) {
    const detail = data?.detail || t('api.failed', { method, url, status: response.status });
    throw new ApiError(response.status, data, detail);
  }
  return data;
}

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];

/**
 * Saves, serialised per key (the ROI label: one ROI per label per read).
 *
 * `request(key, op)` records the *latest* wanted change for the key; `op()` is evaluated only when it is
 * sent, so it always carries the current geometry and the server version returned by the previous save
 * (a PUT never overtakes the first POST, and a burst of drags becomes one request). A failed transient
 * save stays wanted and is retried with backoff; it is never dropped. Callbacks:
 *   onSaved(key, result, req)    2xx
 *   onConflict(key, current)     409: someone else changed it; later wanted changes of that key are void
 *   onRejected(key, err)         400/403/404: the server refuses; not retried
 *   onChange()                   whenever the pending/failed state changes
 */
export class SaveQueue {
  constructor({ onSaved, onConflict, onRejected, onChange }) {
    Object.assign(this, { onSaved, onConflict, onRejected, onChange });
    this.slots = new Map();
    this.lastError = null;
    this.nextRetryAt = null;
    window.addEventListener('online', () => this.retryNow());
  }

  slot(key) {
    if (!this.slots.has(key)) this.slots.set(key, { want: null, running: false, attempt: 0, timer: null });
    return this.slots.get(key);
  }

  request(key, op) {
    const s = this.slot(key);
    s.want = op; // latest wins
    this.onChange();
    if (!s.running && !s.timer) this.run(key);
  }

  /** Keys with a change not yet confirmed by the server. */
  pendingKeys() {
    return [...this.slots].filter(([, s]) => s.want || s.running).map(([k]) => k);
  }

  /** Keys whose last attempt failed and that wait for a retry. */
  failedKeys() {
    return [...this.slots].filter(([, s]) => s.timer).map(([k]) => k);
  }

  retryNow() {
    for (const [key, s] of this.slots) {
      if (s.timer) {
        clearTimeout(s.timer);
        s.timer = null;
        s.attempt = Math.max(0, s.attempt - 1);
        this.run(key);
      }
    }
  }

  async run(key) {
    const s = this.slot(key);
    if (s.running) return;
    s.running = true;
    this.onChange();
    while (s.want) {
      const op = s.want;
      s.want = null;
      const req = op();
      if (!req) continue; // nothing to send any more (e.g. deleting an ROI the server never had)
      try {
        const result = await api(req.method, req.url, req.body);
        s.attempt = 0;
        this.lastError = null;
        this.onSaved(key, result, req);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.status === 409) {
          s.want = null; // queued edits were made on the stale version
          this.onConflict(key, err.body?.current ?? null, err);
        } else if (err.transient) {
          if (!s.want) s.want = op; // keep it: never drop a change
          this.lastError = err;
          const delay = BACKOFF_MS[Math.min(s.attempt, BACKOFF_MS.length - 1)];
          s.attempt += 1;
          this.nextRetryAt = Date.now() + delay;
          s.timer = setTimeout(() => {
            s.timer = null;
            this.run(key);
          }, delay);
          break;
        } else {
          this.onRejected(key, err, req);
        }
      }
    }
    s.running = false;
    this.onChange();
  }
}
