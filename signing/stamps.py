"""Which time-stamp tokens went into a seal: their serials, for the seal's audit event."""

from __future__ import annotations

from asn1crypto import cms
from pyhanko.sign.timestamps import TimeStamper

__all__ = ["RecordingTimeStamper", "token_serial"]


def token_serial(token: cms.ContentInfo) -> int:
    """The serial number of an RFC 3161 token (TSTInfo.serialNumber, RFC 3161 §2.4.2)."""
    tst = token["content"]["encap_content_info"]["content"].parsed
    return int(tst["serial_number"].native)


class RecordingTimeStamper(TimeStamper):
    """The shared time-stamper as one seal sees it: every request is passed on, and the
    serials of the tokens that came back are kept. Size estimates use the shared one's cached
    dummy token and are not recorded (that token is not in the seal)."""

    def __init__(self, inner: TimeStamper):
        super().__init__()
        self._inner = inner
        self.serials: list[int] = []

    async def async_dummy_response(self, md_algorithm) -> cms.ContentInfo:
        return await self._inner.async_dummy_response(md_algorithm)

    def validation_paths(self, validation_context):
        return self._inner.validation_paths(validation_context)

    async def async_timestamp(self, message_digest, md_algorithm) -> cms.ContentInfo:
        token = await self._inner.async_timestamp(message_digest, md_algorithm)
        self.serials.append(token_serial(token))
        return token
