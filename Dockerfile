# One image for the API, the workers and migrations; the command picks the role.
# Two stages: wheels are built where compilers may live, the runtime stage gets the runtime
# packages only (requirements.lock; the test tools, pinned apart, stay out).

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY requirements.lock .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.lock
COPY pyproject.toml README.md ./
COPY dossiers dossiers
COPY ingest ingest
COPY ocr ocr
COPY signing signing
COPY paper paper
COPY core core
COPY wiring wiring
COPY storage storage
COPY api api
COPY web web
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OMP_THREAD_LIMIT=1
COPY scripts/apt-packages.txt /tmp/apt-packages.txt
# The servers in the list (Redis, PostgreSQL) and the test HSM run as their own services.
RUN apt-get update \
 && grep -v -e '^redis-server$' -e '^postgresql$' /tmp/apt-packages.txt \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/apt-packages.txt
# Every wheel of the build stage (the pinned runtime packages and sohoa itself), nothing else.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels /wheels/*.whl
# The data volume is mounted here: made and owned by the service's user, so a fresh named
# volume (which copies the image's folder) is writable without running as root.
RUN useradd --create-home --uid 10001 sohoa \
 && mkdir -p /var/lib/sohoa /etc/sohoa/pki \
 && chown sohoa:sohoa /var/lib/sohoa
USER sohoa
ENV SOHOA_DATA_DIR=/var/lib/sohoa
VOLUME /var/lib/sohoa
EXPOSE 8000
CMD ["sohoa", "api", "--host", "0.0.0.0", "--port", "8000"]
