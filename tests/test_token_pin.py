"""`regca token enroll` takes the token's PIN from a file, the environment or a prompt on the
terminal, never only from the command line (where every local user sees it in `ps`)."""

from __future__ import annotations

import json
import os
import pty
import select
import sys
import time

import pytest
from conftest import RESIDENT, run_cli
from tokens import MODULE, make_token

pytestmark = pytest.mark.hsm


@pytest.fixture
def token(tmp_path):
    return make_token(tmp_path / "user-token")


@pytest.fixture
def subject(tmp_path):
    path = tmp_path / "subject.json"
    path.write_text(json.dumps(RESIDENT, ensure_ascii=False))
    return str(path)


def _args(token, subject, *extra):
    return ["token", "enroll", "--module", MODULE, "--token-label", token.label,
            "--profile", "resident-signing", "--subject", subject, *extra]


def _keys_on(token) -> int:
    return sum(o["kind"].startswith("Private Key") for o in token.objects())


def test_pin_from_a_file(sqlite_ctx, token, subject, tmp_path):
    pin_file = tmp_path / "pin"
    pin_file.write_text(token.pin + "\n")
    r = run_cli(sqlite_ctx.settings.home, *_args(token, subject, "--pin-file", str(pin_file)),
                env={"SOFTHSM2_CONF": str(token.conf)})
    assert r.code == 0, r.err
    assert _keys_on(token) == 1


def test_pin_from_the_environment(sqlite_ctx, token, subject):
    r = run_cli(sqlite_ctx.settings.home, *_args(token, subject),
                env={"SOFTHSM2_CONF": str(token.conf), "REGCA_TOKEN_PIN": token.pin})
    assert r.code == 0, r.err
    assert _keys_on(token) == 1


def test_a_wrong_pin_from_a_file_is_one_line_and_changes_nothing(sqlite_ctx, token, subject,
                                                                tmp_path):
    pin_file = tmp_path / "pin"
    pin_file.write_text("000000\n")
    r = run_cli(sqlite_ctx.settings.home, *_args(token, subject, "--pin-file", str(pin_file)),
                env={"SOFTHSM2_CONF": str(token.conf)})
    assert r.code == 1 and r.err.count("\n") == 1 and "wrong PIN" in r.err
    assert _keys_on(token) == 0


def test_without_any_pin_and_no_terminal_it_says_how_to_give_one(sqlite_ctx, token, subject):
    r = run_cli(sqlite_ctx.settings.home, *_args(token, subject),
                env={"SOFTHSM2_CONF": str(token.conf), "REGCA_TOKEN_PIN": ""})
    assert r.code == 1 and r.err.count("\n") == 1 and "--pin-file" in r.err
    assert _keys_on(token) == 0


def test_pin_from_a_prompt_on_the_terminal_is_not_echoed(sqlite_ctx, token, subject):
    """A real pseudo-terminal: the command asks, the PIN typed there never shows."""
    env = {k: v for k, v in os.environ.items() if k != "REGCA_TOKEN_PIN"}
    env["SOFTHSM2_CONF"] = str(token.conf)
    argv = [sys.executable, "-m", "regca.cli", "--home", str(sqlite_ctx.settings.home),
            *_args(token, subject)]
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session of its own with the pty as its terminal
        os.execve(sys.executable, argv, env)
    seen, typed = b"", False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if not typed and b"PIN of token" in seen:
            os.write(fd, token.pin.encode() + b"\n")
            typed = True
    _, status = os.waitpid(pid, 0)
    assert typed, seen
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert token.pin.encode() not in seen
    assert _keys_on(token) == 1
