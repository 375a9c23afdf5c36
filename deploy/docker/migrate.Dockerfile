# syntax=docker/dockerfile:1
# One-shot schema migrations for every service: `smartslot-migrate <name>...` needs each service package
# installed (its migrations/ ship inside it), so this image carries all five. It also carries the demo seed
# (scripts/seed_demo.py, the compose stack's `seed` service), which needs the shared library's API client.
# Build context: the repository root
#   docker build -f deploy/docker/migrate.Dockerfile -t smartslot/migrate:dev .
#   docker run --rm -e SMARTSLOT_DATABASE_URL=... smartslot/migrate:dev booking waitlist
#   docker run --rm --entrypoint python smartslot/migrate:dev /opt/smartslot/seed_demo.py --gateway-url ...

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# /opt/venv is what the image runs: the runtime lock only. /opt/build holds the build backend and stays here.
RUN python -m venv /opt/venv && python -m venv /opt/build
ENV PATH="/opt/venv/bin:$PATH"
WORKDIR /src
COPY requirements/runtime.lock requirements/build.lock requirements/
RUN --mount=type=cache,target=/root/.cache/pip pip install --require-hashes -r requirements/runtime.lock \
 && /opt/build/bin/pip install --require-hashes -r requirements/build.lock
COPY libs/common libs/common
COPY services services
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /tmp/wheels ./libs/common \
      ./services/gateway ./services/booking ./services/availability ./services/waitlist ./services/notifier \
 && pip install --no-cache-dir --no-deps --no-index /tmp/wheels/*.whl

FROM python:3.11-slim
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 smartslot \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin smartslot
COPY --from=builder /opt/venv /opt/venv
COPY scripts/seed_demo.py /opt/smartslot/seed_demo.py
USER 10001:10001
ENTRYPOINT ["smartslot-migrate"]
CMD ["gateway", "booking", "availability", "waitlist", "notifier"]
