"""The access log under granian, written by the app (edge/access_log.py): gunicorn's line, one
write per line, whole lines from several worker processes appending at once."""

from __future__ import annotations

import multiprocessing
import re

from edge.access_log import AccessLogFile, AccessLogged
from edge.wsgi import API_KEY_ENVIRON, respond

# gunicorn's default access-log line, then the API key's id (regca/server.py)
LINE = re.compile(r'^(\S+) - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "(\S+) (\S+) '
                  r'(\S+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)" key=(\S+)$')


def _app(environ, start_response):
    return respond(start_response, 201, b"made", "text/plain")


def _streamed(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one "
    yield b"two"


def _environ(path="/ocsp/MEMwQTA", query="", **extra):
    return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "192.0.2.7", **extra}


def _lines(path):
    return path.read_text().splitlines()


def test_a_line_is_gunicorns_with_the_key_and_no_pesel(tmp_path):
    log = tmp_path / "access.log"
    app = AccessLogged(_app, AccessLogFile(log))
    body = app(_environ("/audit", "pesel=44051401458&page=2", HTTP_USER_AGENT="curl/8",
                        **{API_KEY_ENVIRON: "k-17"}), lambda *a: None)
    assert body == [b"made"]
    (line,) = _lines(log)
    fields = LINE.match(line).groups()
    assert fields[0] == "192.0.2.7" and fields[2:] == (
        "GET", "/audit?pesel=[redacted]&page=2", "HTTP/1.1", "201", "4", "-", "curl/8", "k-17")
    assert "44051401458" not in log.read_text()
    assert log.stat().st_mode & 0o777 == 0o600


def test_a_streamed_body_is_logged_when_the_server_closes_it(tmp_path):
    log = tmp_path / "access.log"
    body = AccessLogged(_streamed, AccessLogFile(log))(_environ(), lambda *a: None)
    assert b"".join(body) == b"one two" and not log.exists()
    body.close()
    assert LINE.match(_lines(log)[0]).group(7) == "7"


def _append(writer: AccessLogFile, who: int, count: int) -> None:
    app = AccessLogged(_app, writer)
    for i in range(count):
        app(_environ(f"/ocsp/{who}-{i}-" + "A" * 300), lambda *a: None)


def test_worker_processes_append_whole_lines(tmp_path):
    """Opened before the fork (the parent wrote first), each process writes through its own
    descriptor; 4 processes x 2,000 lines of 400 bytes come out whole, none lost."""
    log = tmp_path / "access.log"
    writer = AccessLogFile(log)
    _append(writer, 0, 1)
    fork = multiprocessing.get_context("fork")
    procs = [fork.Process(target=_append, args=(writer, who, 2000)) for who in range(1, 5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = _lines(log)
    assert len(lines) == 8001 and all(LINE.match(line) for line in lines)
    targets = {LINE.match(line).group(4) for line in lines}
    assert targets == {f"/ocsp/{who}-{i}-" + "A" * 300
                       for who, count in ((0, 1), *((w, 2000) for w in range(1, 5)))
                       for i in range(count)}
