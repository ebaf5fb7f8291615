# Production-like image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=ekr.settings.production
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_SECRET_KEY=build EKR_FIELD_KEY=build DATABASE_URL=postgresql://x@localhost/x REDIS_URL=redis://localhost \
    python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "ekr.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--threads", "4"]
