# digestbot: one image for `digestbot run`, `publish` and the importers.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /wheels

FROM python:3.11-slim
RUN useradd --create-home --uid 1000 digestbot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /srv/digestbot
COPY --chown=digestbot content ./content
USER digestbot
ENV DIGESTBOT_HTTP__HOST=0.0.0.0 \
    DIGESTBOT_CONTENT_DIR=/srv/digestbot/content \
    DIGESTBOT_OUTBOX_DIR=/srv/digestbot/outbox \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
STOPSIGNAL SIGTERM
CMD ["digestbot", "run"]
