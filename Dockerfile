# scalehook's image: `scalehook serve` as an unprivileged user, next to the engine it drives.
#   docker build -t scalehook .   with a registry and PyPI at hand: on python:3.11-slim, the
#                                 packages from PyPI as requirements/base.txt pins them
#   scripts/image                 with neither: on a base made from Debian's packages when
#                                 python:3.11-slim is absent, from wheels fetched on the host
# Run it with the engine's socket and the socket's group (README, "Deploying"):
#   docker run -d -p 8085:8085 -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" -v scalehook:/var/lib/scalehook scalehook
ARG BASE=python:3.11-slim

# The pinned, hash-checked dependencies in a venv: rebuilt only when the lock changes.
FROM ${BASE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python3 -m venv /opt/scalehook
# From the wheels scripts/image put in prebuilt-deps/ (no network needed), else from PyPI.
# The lock is named first so that the COPY has a source when prebuilt-deps/ is absent.
COPY requirements/base.txt prebuilt-dep[s] /build/deps/
RUN set -eu; \
    if ls /build/deps/*.whl >/dev/null 2>&1; then set -- --no-index --find-links /build/deps; fi; \
    /opt/scalehook/bin/pip install --no-deps "$@" -r /build/deps/base.txt

# scalehook itself, in a directory of its own (/opt/scalehook-app): a change of the sources
# rebuilds only this. The wheel scripts/image built, else one built here from src/.
FROM deps AS app
COPY pyproject.toml README.md LICENSE /build/src/
COPY src /build/src/src
COPY LICENSE prebuilt-scalehoo[k] /build/dist/
RUN set -eu; \
    pip=/opt/scalehook/bin/pip; \
    ls /build/dist/*.whl >/dev/null 2>&1 || "$pip" wheel --no-deps -w /build/dist /build/src; \
    "$pip" install --no-index --no-deps /build/dist/*.whl; \
    "$pip" check; \
    "$pip" install --no-index --no-deps --target /opt/scalehook-app /build/dist/*.whl

# The venv the image runs: the dependencies, without pip and setuptools, and scalehook's
# directory on its path.
FROM deps AS runtime
RUN set -eu; \
    /opt/scalehook/bin/pip uninstall --yes --quiet pip setuptools; \
    site="$(/opt/scalehook/bin/python3 -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"; \
    echo /opt/scalehook-app >"$site/scalehook-app.pth"

FROM ${BASE}
# uid/gid 10001, written directly: a minimal Debian has no useradd. The engine's socket is
# reached through its group, added at run time (--group-add, group_add, or the gid in `user:`).
RUN echo 'scalehook:x:10001:10001:scalehook:/var/lib/scalehook:/usr/sbin/nologin' >>/etc/passwd \
 && echo 'scalehook:x:10001:' >>/etc/group \
 && mkdir -p /var/lib/scalehook /etc/scalehook \
 && chown 10001:10001 /var/lib/scalehook && chmod 0750 /var/lib/scalehook
ENV PATH=/opt/scalehook-app/bin:/opt/scalehook/bin:$PATH \
    SCALEHOOK_DATA_DIR=/var/lib/scalehook \
    HOME=/var/lib/scalehook \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
VOLUME /var/lib/scalehook
WORKDIR /var/lib/scalehook
USER 10001:10001
EXPOSE 8085
# No proxy for the probe, whatever the environment says.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python3", "-c", "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:8085/healthz', timeout=4)"]
ENTRYPOINT ["scalehook", "serve", "--host", "0.0.0.0"]
CMD ["--config", "/etc/scalehook/scalehook.yaml"]
# Last, so that everything above is cached: what changes with the lock, then the sources.
COPY LICENSE /usr/share/doc/scalehook/LICENSE
COPY deploy/docker.yaml /etc/scalehook/scalehook.yaml
COPY --from=runtime /opt/scalehook /opt/scalehook
COPY --from=app /opt/scalehook-app /opt/scalehook-app
