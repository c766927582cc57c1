# The sessionflow image used by docker-compose.yml: the CLI and every pipeline service.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sessionflow sessionflow
COPY schemas schemas
COPY producers producers
COPY processors processors
COPY sinks sinks
RUN pip install --no-cache-dir .
ENTRYPOINT ["sessionflow"]
