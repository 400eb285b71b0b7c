"""No PESEL in the home's access log: the auditor's search and the enrolments' search box take
one in their query strings (GET forms), and both servers `regca serve` runs write the line
without its value."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from tsa_support import regca_serve

pytestmark = pytest.mark.hsm

PESEL = "44051401359"


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_a_pesel_in_a_query_is_not_in_the_access_log(home, server):
    log = home.settings.log_dir / "access.log"
    with regca_serve(home.settings.home, workers=1, server=server) as (base, _):
        for path in (f"/enrolments?q={PESEL}&page=2", f"/audit?pesel={PESEL}&teryt=0862011",
                     f"/audit?teryt=&P%45SEL={PESEL}"):
            try:  # anonymous: redirected to the log-in page, and logged all the same
                urllib.request.urlopen(f"{base}{path}", timeout=10).read()
            except urllib.error.HTTPError:
                pass
        deadline = time.monotonic() + 10
        # each request's line, whichever of the server's threads writes it last
        while not all(part in (log.read_text() if log.exists() else "")
                      for part in ("P%45SEL=", "/audit?pesel=", "/enrolments?q=")):
            assert time.monotonic() < deadline, "no access-log line for the request"
            time.sleep(0.1)
    text = log.read_text()
    lines = [line for line in text.splitlines() if "/audit?" in line]
    assert any("pesel=[redacted]&teryt=0862011" in line for line in lines)
    assert any("P%45SEL=[redacted]" in line for line in lines)
    assert any("/enrolments?q=[redacted]&page=2" in line for line in text.splitlines())
    assert PESEL not in text
