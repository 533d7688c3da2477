# district-etl as a container image: the same checkout, run.sh as the entry point, a service
# user, no secrets inside (they come from the environment: ECS task secrets or --env-file).
# docs/deploy-aws.md. Not built here: the machine has the docker client but no daemon.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client chromium chromium-driver ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --create-home --home-dir /srv/district-etl --user-group etl
WORKDIR /srv/district-etl/app
COPY --chown=etl:etl requirements.txt ./
COPY --chown=etl:etl ops/install_lock.sh ops/
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
