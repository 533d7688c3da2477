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
RUN python -m venv .venv && .venv/bin/pip install --no-cache-dir --require-hashes -r requirements.txt \
    && sha256sum requirements.txt | cut -d" " -f1 > .venv/.runtime.sha256
COPY --chown=etl:etl . .

USER etl
# Data, logs and luigid's state live on mounted volumes (EFS on ECS), never in the image.
ENV ETL_VAR=/srv/district-etl/var
VOLUME ["/srv/district-etl/data", "/srv/district-etl/var", "/srv/district-etl/app/logs"]
ENTRYPOINT ["./run.sh"]
CMD ["check"]
