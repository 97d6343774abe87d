# VBQ Reader image: Python app + built viewer. Used by docker-compose.yml (web, worker, beat, migrate).
FROM node:22-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# The translation catalogues (locale/*/django.po -> django.mo, GNU gettext's msgfmt as compilemessages uses).
FROM python:3.11-slim-bookworm AS messages
RUN apt-get update && apt-get install -y --no-install-recommends gettext && rm -rf /var/lib/apt/lists/*
COPY locale/ /src/locale/
RUN for po in /src/locale/*/LC_MESSAGES/*.po; do msgfmt --check-format -o "${po%.po}.mo" "$po"; done

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VBQ_VAR_DIR=/var/lib/vbq
WORKDIR /app
# requirements.txt holds every runtime package, the DICOM codecs included (pylibjpeg + libjpeg/openjpeg/rle
# plugins, pyjpegls, python-gdcm): the image decodes every transfer syntax the README names.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# The app's bytecode, compiled once here: PYTHONDONTWRITEBYTECODE (and the read-only /app of the vbq user) would
# otherwise have every process start — gunicorn's master, each Celery worker and beat, every manage.py — compile
# the app's modules from source again (~0.1 s each; start-up, issue #20 point 4).
RUN python -m compileall -q -j 0 analytics notifications scoring studies vbqsite
COPY --from=frontend /src/studies/static/viewer ./studies/static/viewer
COPY --from=messages /src/locale ./locale
# Build-time only values: the running containers get their secrets from the environment (.env).
RUN SECRET_KEY=build-only DEID_SECRET=build-only VBQ_MAPPING_KEY_FROM_SECRET=true STATIC_ROOT=/app/static \
    python manage.py collectstatic --noinput -v 0
ENV STATIC_ROOT=/app/static
# An unprivileged user; /var/lib/vbq/media (the shared volume) is created owned by it so the volume inherits that.
RUN useradd --system --home-dir /var/lib/vbq --shell /usr/sbin/nologin vbq \
    && mkdir -p /var/lib/vbq/media/uploads && chown -R vbq:vbq /var/lib/vbq
USER vbq
EXPOSE 8000
CMD ["gunicorn", "vbqsite.wsgi", "--preload", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "4", "--keep-alive", "5", "--timeout", "120"]
