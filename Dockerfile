# district-etl as a container image: the same checkout, run.sh as the entry point, a service
# user, no secrets inside (they come from the environment: ECS task secrets or --env-file).
# docs/deploy-aws.md. Built and run here without a daemon by `./run.sh bench image` (podman,
# from a debootstrapped Debian base standing in for python:3.11-slim-bookworm).
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client chromium chromium-driver ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --create-home --home-dir /srv/district-etl --user-group etl
WORKDIR /srv/district-etl/app
COPY --chown=etl:etl requirements.txt ./
COPY --chown=etl:etl ops/install_lock.sh ops/
# Behind a proxy that re-signs TLS (a district's, or this development machine's), the build is
# given its CA: --build-arg PIP_CERT=/path -v host-ca.pem:/path:ro (bench/image.py does so). An
# ARG is not kept in the image.
ARG PIP_CERT
RUN PIP_NO_CACHE_DIR=1 ops/install_lock.sh .venv requirements.txt
COPY --chown=etl:etl . .
# The project itself, editable (the checkout is the code), as run.sh's bootstrap installs it; the
# stamp is the one bootstrap compares, so the first ./run.sh does not reinstall.
RUN .venv/bin/pip install --quiet --no-deps --no-build-isolation --no-index -e . \
    && cat requirements.txt pyproject.toml | sha256sum | cut -d" " -f1 > .venv/.runtime.sha256

USER etl
# Data, logs and luigid's state live on mounted volumes (EFS on ECS), never in the image.
ENV ETL_VAR=/srv/district-etl/var
VOLUME ["/srv/district-etl/data", "/srv/district-etl/var", "/srv/district-etl/app/logs"]
ENTRYPOINT ["./run.sh"]
CMD ["check"]
