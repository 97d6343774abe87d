"""Run deploy/nginx.conf on this machine (no Docker): for tests/deploy/test_nginx.py and bench/serving.py.

The compose names are replaced: the upstream ``web:8000`` by a local gunicorn or test server, ``listen 80`` by a
free loopback port, the media volume ``/var/lib/vbq/media/`` by the local MEDIA_ROOT; the template's
``${VBQ_PIXEL_LINK_SECRET}`` and ``${VBQ_PIXEL_GRANT_MINUTES}`` are filled as the official image's envsubst fills
them (a random secret when none is given: Django issues no pixel links then, and nginx refuses any). nginx runs in
the foreground as this user with its pid, logs and temp files in a private folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

CONF = Path(__file__).resolve().parent / "nginx.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render(
    *, upstream: str, port: int, media_root: Path, link_secret: str | None = None, grant_minutes: int = 120
) -> str:
    text = CONF.read_text()
    media = str(media_root).rstrip("/")
    secret = link_secret or secrets.token_urlsafe(32)
    # what secure_link_md5 sees between quotes: no quote, no "$" (a variable), no space (the field separator)
    assert secret.isascii() and not any(c in secret for c in "\"'$ ;{}"), "the pixel-link secret: use token_urlsafe"
    for old, new in (
        ("server web:8000;", f"server {upstream};"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("alias /var/lib/vbq/media/;", f"alias {media}/;"),
        ("alias /var/lib/vbq/media/$vbq_folder/", f"alias {media}/$vbq_folder/"),
        ("${VBQ_PIXEL_LINK_SECRET}", secret),
        ("${VBQ_PIXEL_GRANT_MINUTES}", str(int(grant_minutes))),
    ):
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


class LocalNginx:
    """``with LocalNginx(upstream="127.0.0.1:8123", media_root=..., workdir=...) as n: n.port``"""

    def __init__(
        self,
        *,
        upstream: str,
        media_root: Path,
        workdir: Path,
        workers: int = 1,
        link_secret: str | None = None,
        grant_minutes: int = 120,
        access_log: bool = False,
    ) -> None:
        self.upstream, self.media_root, self.dir, self.workers = upstream, Path(media_root), Path(workdir), workers
        self.link_secret, self.grant_minutes, self.access_log = link_secret, grant_minutes, access_log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> LocalNginx:
        self.dir.mkdir(parents=True, exist_ok=True)
        server = render(
            upstream=self.upstream,
            port=self.port,
            media_root=self.media_root,
            link_secret=self.link_secret,
            grant_minutes=self.grant_minutes,
        )
        (self.dir / "server.conf").write_text(server)
        d = self.dir
        (d / "nginx.conf").write_text(
            # as root, nginx's workers would drop to "nobody", who cannot read a private media folder
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"""worker_processes {self.workers};
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {f"{d}/access.log" if self.access_log else "off"};
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/server.conf;
}}
"""
        )
        self.proc = subprocess.Popen(
            [NGINX, "-e", str(d / "error.log"), "-p", str(d), "-c", str(d / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(d / "stderr.log", "wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(d / 'stderr.log').read_text()} {(d / 'error.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start listening")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
