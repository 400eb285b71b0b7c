"""The backup file's encryption: a passphrase, scrypt, and AES-256-GCM over chunks.

Layout (all integers big-endian)::

    header   magic "REGCA-BACKUP" | version u8 | scrypt log2(N) u8 | r u8 | p u8
             | salt 16 bytes | nonce prefix 7 bytes
    records  length u32 | AES-256-GCM ciphertext and tag of one chunk (at most 1 MiB)

Each chunk is sealed with nonce = prefix | chunk counter u32 | last-chunk flag u8 and the whole
header as associated data: the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
authenticated-encryption and its nonce-reuse misuse-resistance", 2015). So a changed header
(format version, scrypt parameters), a reordered, dropped or altered chunk, and a file cut short
all fail authentication, and a file of any size is written and read in constant memory.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ca.errors import RegCAError

__all__ = ["BackupRefused", "EncryptingWriter", "DecryptingReader", "FORMAT_VERSION"]

MAGIC = b"REGCA-BACKUP"
FORMAT_VERSION = 1
_HEADER = struct.Struct(f">{len(MAGIC)}sBBBB16s7s")
_LENGTH = struct.Struct(">I")
CHUNK = 1 << 20
# scrypt N = 2**17, r = 8: 128 MiB and about half a second per derivation, the interactive
# parameters of RFC 7914 §2 raised for a key that guards a CA's database and keys.
_LOG2_N, _R, _P = 17, 8, 1
_MAX_LOG2_N = 20  # a forged header must not make the reader allocate gigabytes


class BackupRefused(RegCAError):
    """Not a RegCA backup, another format version, a wrong passphrase or a damaged file."""


def _key(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> AESGCM:
    if not passphrase:
        raise BackupRefused("REGCA_BACKUP_PASSPHRASE is empty")
    kdf = Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p)
    return AESGCM(kdf.derive(passphrase.encode()))


class EncryptingWriter:
    """A write-only binary file object: what is written reaches ``out`` sealed. ``close()``
    seals the last chunk and must be called, or the file is incomplete (and refused)."""

    def __init__(self, out: BinaryIO, passphrase: str):
        self._out = out
        salt, self._prefix = os.urandom(16), os.urandom(7)
        self._header = _HEADER.pack(MAGIC, FORMAT_VERSION, _LOG2_N, _R, _P, salt, self._prefix)
        self._aead = _key(passphrase, salt, _LOG2_N, _R, _P)
        out.write(self._header)
        self._buffer = bytearray()
        self._counter = 0
        self.closed = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK:  # keep one back: the last chunk is sealed as last
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def flush(self) -> None:
        self._out.flush()

    def _seal(self, chunk: bytes, last: bool) -> None:
        nonce = self._prefix + struct.pack(">IB", self._counter, last)
        sealed = self._aead.encrypt(nonce, chunk, self._header)
        self._out.write(_LENGTH.pack(len(sealed)) + sealed)
        self._counter += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), last=True)
            self._out.flush()
            self.closed = True


class DecryptingReader:
    """A read-only binary file object over a sealed file: each chunk is authenticated before
    any of its bytes is handed on, and the end of the file must be the sealed last chunk."""

    def __init__(self, src: BinaryIO, passphrase: str):
        self._src = src
        header = src.read(_HEADER.size)
        if len(header) < _HEADER.size or not header.startswith(MAGIC):
            raise BackupRefused("not a RegCA backup file")
        _, version, log2_n, r, p, salt, self._prefix = _HEADER.unpack(header)
        if version != FORMAT_VERSION:
            raise BackupRefused(f"backup format version {version} is not supported "
                                f"(this RegCA reads version {FORMAT_VERSION})")
        if not (10 <= log2_n <= _MAX_LOG2_N and 1 <= r <= 32 and 1 <= p <= 16):
            raise BackupRefused("backup header has unacceptable scrypt parameters")
        self._header = header
        self._aead = _key(passphrase, salt, log2_n, r, p)
        self._counter = 0
        self._buffer = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bytes:
        raw_length = self._src.read(_LENGTH.size)
        if len(raw_length) < _LENGTH.size:
            raise BackupRefused("backup file is truncated")
        (length,) = _LENGTH.unpack(raw_length)
        sealed = self._src.read(length) if length <= CHUNK + 16 else b""
        if len(sealed) != length:
            raise BackupRefused("backup file is truncated or damaged")
        for last in (False, True):
            nonce = self._prefix + struct.pack(">IB", self._counter, last)
            try:
                chunk = self._aead.decrypt(nonce, sealed, self._header)
            except InvalidTag:
                continue
            self._counter += 1
            if last:
                self._done = True
                if self._src.read(1):
                    raise BackupRefused("backup file has data after its last chunk")
            return chunk
        if self._counter == 0:
            raise BackupRefused("wrong passphrase, or the backup file is damaged")
        raise BackupRefused("backup file is damaged (a chunk fails authentication)")

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            self._buffer += self._next_chunk()
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def verify_to_end(self) -> None:
        """Authenticate whatever the reader has not consumed yet (tar leaves padding unread)."""
        while not self._done:
            self._next_chunk()
