"""Subscriber tokens for tests: SoftHSM2 stores of their own, judged by pkcs11-tool."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ca.config import write_softhsm_conf

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SO_PIN = "87654321"


@dataclass(frozen=True)
class SoftToken:
    conf: Path
    label: str
    pin: str
    so_pin: str = SO_PIN

    @property
    def env(self) -> dict:
        return dict(os.environ, SOFTHSM2_CONF=str(self.conf))

    def pkcs11_tool(self, *args: str, login: bool = True) -> subprocess.CompletedProcess:
        cmd = ["pkcs11-tool", "--module", MODULE, "--token-label", self.label, *args]
        if login:
            cmd += ["--login", "--pin", self.pin]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=False, check=True)

    def objects(self) -> list[dict]:
        """pkcs11-tool --list-objects, one dict per object (kind, label, id, access...)."""
        text = self.pkcs11_tool("--list-objects").stdout.decode(errors="replace")
        found = []
        for block in re.split(r"\n(?=\S)", text.strip()):
            if not block.strip():
                continue
            head, *lines = block.splitlines()
            obj = {"kind": head.split(" Object")[0].strip()}
            for line in lines:
                key, _, value = line.strip().partition(":")
                obj[key.strip().lower()] = value.strip()
            found.append(obj)
        return found


def make_token(directory: Path, label: str = "Karta testowa", pin: str = "123456") -> SoftToken:
    """A fresh SoftHSM2 store with one initialised token, apart from the CA's HSM."""
    conf = directory / "softhsm2.conf"
    write_softhsm_conf(conf, directory / "tokens")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label,
                    "--so-pin", SO_PIN, "--pin", pin],
                   env=dict(os.environ, SOFTHSM2_CONF=str(conf)), check=True,
                   capture_output=True)
    return SoftToken(conf, label, pin)
