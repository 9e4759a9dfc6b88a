FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/data
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DATABASE_URL=sqlite:////tmp/build.sqlite3 SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && useradd --system --home /app acuvim && mkdir -p /data && chown acuvim /data
USER acuvim
EXPOSE 8000
CMD ["uvicorn", "acuvim_console.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers"]
