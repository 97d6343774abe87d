"""The address rule for DICOMweb servers (server-side request forgery guard, studies/services/remote_urls.py).

The pure rule: each refused range (loopback, link-local with the cloud metadata address, unspecified, multicast,
broadcast) in IPv4, IPv6 and the IPv6 forms of IPv4 addresses, a DNS name resolving to loopback, private hospital
networks allowed, the allow-list (names, addresses, CIDR ranges), the server's own database/queue ports. Then the
enforcement: registration refused with a clear message and nothing stored (page and API), a stored server whose
address became refused is never contacted (search, pull job, SR send), a redirect to a refused address and a name
that resolves elsewhere at connection time (DNS rebinding) are refused before connecting. The only traffic is to a
small HTTP server of the test on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.urls import reverse

from studies.models import AuditEvent, DicomWebServer
from studies.services import remote_urls
from studies.services.remote_urls import AddressRefused, guarded_session, url_refusal
from tests import factories as f

REFUSED = [
    ("http://127.0.0.1:6379/", "loopback"),  # the app's Redis over HTTP
    ("http://127.45.6.7:5432/", "loopback"),  # all of 127.0.0.0/8
    ("http://[::1]:8000/", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "metadata"),  # cloud metadata service
    ("http://169.254.10.20/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://0.0.0.0:8000/", "unspecified"),
    ("http://0.1.2.3/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://224.0.0.251/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://[::ffff:127.0.0.1]:6379/", "loopback"),  # IPv4-mapped
    ("http://[::ffff:7f00:1]/", "loopback"),  # the same, written in hex
    ("http://[::ffff:169.254.169.254]/", "metadata"),
    ("http://[::ffff:0.0.0.0]/", "unspecified"),
    ("http://[::127.0.0.1]/", "loopback"),  # IPv4-compatible
    ("http://[::ffff:0:127.0.0.1]/", "loopback"),  # IPv4-translated
    ("http://2130706433/", "loopback"),  # 127.0.0.1 as one decimal number
    ("http://0x7f.1/", "loopback"),  # ... and in inet_aton's short hex form
    ("http://localhost:8042/dicom-web", "loopback"),  # a DNS name resolving to loopback
]

ALLOWED = [
    "http://10.1.2.3/dicom-web",
    "https://172.16.0.10/dicom-web",
    "http://172.31.255.254:8042/dicom-web",
    "https://192.168.1.5/wado",
    "http://[fd12:3456::1]:8042/dicom-web",  # IPv6 unique local (private)
    "https://203.0.113.7/dicom-web",  # a public address (TEST-NET-3)
    "http://[::ffff:10.1.2.3]/dicom-web",  # the mapped form of a private address
]


@pytest.fixture
def no_exceptions(settings):
    """The production default: nothing allowed beyond the rule (the tests' own default allows 127.0.0.1)."""
    settings.DICOMWEB_ALLOW_HOSTS = []
    return settings


@pytest.fixture
def fake_dns(monkeypatch):
    """Name → addresses for the rule's lookups (``names``); each lookup is recorded in ``calls``."""
    names: dict[str, list] = {}
    calls: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        calls.append(host)
        if host not in names:
            return real(host, port, *args, **kwargs)
        answer = names[host]
        addresses = answer(len([c for c in calls if c == host])) if callable(answer) else answer
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    monkeypatch.setattr(remote_urls.socket, "getaddrinfo", getaddrinfo)
    return type("FakeDns", (), {"names": names, "calls": calls})


@pytest.fixture
def http_server():
    """A tiny HTTP server on 127.0.0.1 that records each request: /to?<url> redirects there, anything else
    answers an empty QIDO-RS result ([])."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            if self.path.startswith("/to?"):
                self.send_response(302)
                self.send_header("Location", self.path[4:])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield type("Server", (), {"url": f"http://127.0.0.1:{server.server_port}", "hits": hits})
    server.shutdown()
    server.server_close()
    thread.join(5)


# --------------------------------------------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "kind"), REFUSED)
def test_refused_ranges_in_every_spelling(no_exceptions, url, kind):
    problem = url_refusal(url)
    assert problem, url
    words = {
        "loopback": "this server itself",
        "metadata": "metadata service",
        "link-local": "link-local",
        "unspecified": "unspecified address",
        "multicast": "multicast",
        "broadcast": "broadcast",
    }[kind]
    assert words in problem and "VBQ_DICOMWEB_ALLOW_HOSTS" in problem and "hospital network" in problem


@pytest.mark.parametrize("url", ALLOWED)
def test_hospital_networks_and_public_addresses_are_allowed(no_exceptions, url):
    assert url_refusal(url) is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://10.1.2.3/dicom-web", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("gopher://10.1.2.3:70/", "Only http:// and https://"),
        ("http://pacs:secret@10.1.2.3/dicom-web", "user name or password"),
        ("https://token@pacs.hospital.test/dicom-web", "user name or password"),
        ("http:///dicom-web", "no host name"),
        ("http://10.1.2.3:99999/", "not a valid address"),
    ],
)
def test_only_http_and_https_without_credentials(no_exceptions, url, words):
    assert words in url_refusal(url)


def test_a_name_is_judged_by_every_address_it_resolves_to(no_exceptions, fake_dns):
    fake_dns.names["pacs.hospital.test"] = ["10.20.30.40"]
    fake_dns.names["both.hospital.test"] = ["10.20.30.40", "127.0.0.1"]  # one refused address is enough
    fake_dns.names["v6.hospital.test"] = ["::ffff:169.254.169.254"]
    assert url_refusal("http://pacs.hospital.test/dicom-web") is None
    assert "both.hospital.test leads to 127.0.0.1" in url_refusal("http://both.hospital.test/dicom-web")
    assert "metadata service" in url_refusal("http://v6.hospital.test/dicom-web")
    # a name that does not resolve now is not refused at registration: the connection is checked when it is made
    assert url_refusal("http://no-such-host.invalid/dicom-web") is None


def test_the_allow_list_names_hosts_addresses_and_ranges(settings):
    settings.DICOMWEB_ALLOW_HOSTS = ["LocalHost.", "127.0.0.1", "[::1]"]
    assert url_refusal("http://localhost:8042/dicom-web") is None  # by name (case and final dot ignored)
    assert url_refusal("http://127.0.0.1:8042/dicom-web") is None
    assert url_refusal("http://[::ffff:127.0.0.1]:8042/") is None  # the same address, IPv4-mapped
    assert url_refusal("http://[::1]:8042/") is None
    assert "loopback" in url_refusal("http://127.0.0.2:8042/")  # exactly what is named, no more
    assert "metadata" in url_refusal("http://169.254.169.254/")
    settings.DICOMWEB_ALLOW_HOSTS = ["127.0.0.0/8", "fe80::/64"]
    assert url_refusal("http://127.0.0.2:8042/") is None
    assert url_refusal("http://[fe80::1]/") is None
    assert "metadata" in url_refusal("http://169.254.169.254/")
    settings.DICOMWEB_ALLOW_HOSTS = ["10.0.0.0/33"]
    with pytest.raises(ImproperlyConfigured, match="VBQ_DICOMWEB_ALLOW_HOSTS"):
        url_refusal("http://127.0.0.1/")


def test_the_servers_own_database_and_queue_ports_are_refused_even_when_allowed(settings, monkeypatch):
    settings.DICOMWEB_ALLOW_HOSTS = ["127.0.0.1", "10.0.0.0/8"]
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    monkeypatch.setitem(settings.DATABASES["default"], "HOST", "10.9.8.7")  # as docker compose's db (no query)
    monkeypatch.setitem(settings.DATABASES["default"], "PORT", "5432")
    assert "own services" in url_refusal("http://127.0.0.1:6379/")
    assert "own services" in url_refusal("http://10.9.8.7:5432/")
    assert url_refusal("http://127.0.0.1:8042/dicom-web") is None
    assert url_refusal("http://10.9.8.7:8042/dicom-web") is None


# --------------------------------------------------------------------------------------------------------------
# At connection time
# --------------------------------------------------------------------------------------------------------------


def test_the_session_connects_to_an_allowed_address(http_server):
    answer = guarded_session().get(http_server.url + "/dicom-web/studies", timeout=5)
    assert answer.status_code == 200 and http_server.hits == ["/dicom-web/studies"]


def test_the_connection_goes_to_the_address_that_was_checked(settings, fake_dns, http_server):
    port = http_server.url.rsplit(":", 1)[1]
    fake_dns.names["pacs.hospital.test"] = ["127.0.0.1"]
    settings.DICOMWEB_ALLOW_HOSTS = ["pacs.hospital.test"]
    answer = guarded_session().get(f"http://pacs.hospital.test:{port}/dicom-web/studies", timeout=5)
    assert answer.status_code == 200 and http_server.hits == ["/dicom-web/studies"]


def test_a_redirect_to_a_refused_address_is_not_followed(http_server):
    with pytest.raises(AddressRefused, match="metadata service"):
        guarded_session().get(http_server.url + "/to?http://169.254.169.254/latest/meta-data/", timeout=5)
    with pytest.raises(AddressRefused, match="Only http:// and https://"):
        guarded_session().get(http_server.url + "/to?file:///etc/passwd", timeout=5)
    assert len(http_server.hits) == 2  # only the two first requests, to the allowed server


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_name_that_resolves_elsewhere_when_connecting_is_refused(no_exceptions, fake_dns, monkeypatch, scheme):
    # DNS rebinding: the check before the request sees a hospital address, the connection's own lookup loopback
    fake_dns.names["rebind.hospital.test"] = lambda n: ["10.20.30.40"] if n == 1 else ["127.0.0.1"]
    connected = []
    monkeypatch.setattr(
        remote_urls.urllib3_connection, "create_connection", lambda *a, **k: connected.append(a) or 1 / 0
    )
    with pytest.raises(AddressRefused, match=r"rebind\.hospital\.test leads to 127\.0\.0\.1"):
        guarded_session().get(f"{scheme}://rebind.hospital.test:8042/dicom-web/studies", timeout=5)
    assert connected == [] and fake_dns.calls.count("rebind.hospital.test") == 2


# --------------------------------------------------------------------------------------------------------------
# Registration and use (page, API, jobs)
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def study(db):
    return f.make_study(f.make_user("pi"))


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://127.0.0.1:6379/"])
def test_registering_a_refused_address_is_a_clear_400_and_stores_nothing(client, study, no_exceptions, url):
    client.force_login(study.created_by)
    api = client.post(
        reverse("api-study-dicomweb-servers", args=[study.pk]),
        {"name": "PACS", "url": url, "auth": "none"},
        content_type="application/json",
    )
    assert api.status_code == 400
    assert "hospital network" in api.json()["errors"]["url"][0] and "VBQ_DICOMWEB_ALLOW_HOSTS" in api.json()["detail"]
    page = client.post(
        reverse("study-dicom-network", args=[study.pk]), {"action": "add_server", "name": "PACS", "url": url}
    )
    assert page.status_code == 400 and b"must be a PACS on the hospital network" in page.content
    assert not DicomWebServer.objects.exists()
    assert not AuditEvent.objects.filter(action="dicomweb.server_add").exists()


def test_the_refusal_is_in_the_pages_language(client, study, no_exceptions):
    client.force_login(study.created_by)
    page = client.post(
        reverse("study-dicom-network", args=[study.pk]),
        {"action": "add_server", "name": "PACS", "url": "http://169.254.169.254/"},
        HTTP_ACCEPT_LANGUAGE="zh-Hans",
    )
    text = page.content.decode()
    assert page.status_code == 400 and "链路本地地址" in text and "医院网络中的 PACS" in text
    assert "hospital network" not in text and not DicomWebServer.objects.exists()


def test_registering_with_credentials_in_the_url_is_refused(client, study):
    client.force_login(study.created_by)
    answer = client.post(
        reverse("api-study-dicomweb-servers", args=[study.pk]),
        {"name": "PACS", "url": "http://pacs:pw@10.1.2.3/dicom-web", "auth": "none"},
        content_type="application/json",
    )
    assert answer.status_code == 400 and "user name or password" in answer.json()["detail"]
    assert not DicomWebServer.objects.exists()


def test_a_server_whose_address_became_refused_is_never_contacted(client, study, settings, http_server):
    client.force_login(study.created_by)
    created = client.post(
        reverse("api-study-dicomweb-servers", args=[study.pk]),
        {"name": "Local PACS", "url": http_server.url + "/dicom-web", "auth": "none"},
        content_type="application/json",
    )
    assert created.status_code == 201  # allowed by the tests' VBQ_DICOMWEB_ALLOW_HOSTS=127.0.0.1
    server_pk = created.json()["id"]
    settings.DICOMWEB_ALLOW_HOSTS = []  # the administrator takes the exception away

    search = client.post(
        reverse("api-study-dicomweb-search", args=[study.pk, server_pk]), {"patient_id": "P1"}, "application/json"
    )
    assert search.status_code == 400 and "Local PACS was not contacted" in search.json()["detail"]
    job = client.post(
        reverse("api-study-dicomweb-pull", args=[study.pk, server_pk]),
        {"picks": [{"study_instance_uid": "1.2.3"}]},
        content_type="application/json",
    )
    assert job.status_code == 202 and job.json()["status"] == "failed"  # no broker in the tests: it ran
    assert "Local PACS was not contacted" in job.json()["error"] and "loopback" in job.json()["error"]

    from scoring.sr_send import sr_send

    reader = f.make_user("reader")
    f.add_member(study, reader)
    read = f.make_read(f.make_case(study, "VBQ-001"), reader)
    with pytest.raises(ValidationError, match="Local PACS was not contacted"):
        sr_send(study=study, server=DicomWebServer.objects.get(pk=server_pk), reads=[read], user=study.created_by)
    assert http_server.hits == []
