# One image for the API, the workers and migrations; the command picks the role.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_THREAD_LIMIT=1
WORKDIR /app
COPY scripts/apt-packages.txt scripts/apt-packages.txt
RUN apt-get update \
 && grep -v -e '^redis-server$' -e '^postgresql$' scripts/apt-packages.txt \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.lock .
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN pip install --no-cache-dir --no-deps . && useradd --create-home sohoa
USER sohoa
ENV SOHOA_DATA_DIR=/var/lib/sohoa
EXPOSE 8000
CMD ["sohoa", "api", "--host", "0.0.0.0", "--port", "8000"]
