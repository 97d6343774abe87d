# VBQ Reader image: Python app + built viewer. Used by docker-compose.yml.
FROM node:22-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VBQ_VAR_DIR=/var/lib/vbq
WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
COPY --from=frontend /src/studies/static/viewer ./studies/static/viewer
RUN SECRET_KEY=build python manage.py collectstatic --noinput -v 0
EXPOSE 8000
CMD ["gunicorn", "vbqsite.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]
