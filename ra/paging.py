"""One page of a long list, with the total: lists are paged, never silently cut (issue 18)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Page", "PAGE_SIZE", "page_number"]

T = TypeVar("T")
PAGE_SIZE = 50


def page_number(text: str | None) -> int:
    """``?page=`` as a number from 1; anything else is the first page."""
    try:
        return max(1, int(text or 1))
    except ValueError:
        return 1


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    number: int
    size: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_index(self) -> int:
        return self.offset + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return self.offset + len(self.items)

    def nearby(self) -> list[int | None]:
        """The page numbers a pager shows: first, last, two either side; None for a gap."""
        wanted = {1, self.pages, *range(self.number - 2, self.number + 3)}
        shown = sorted(n for n in wanted if 1 <= n <= self.pages)
        out: list[int | None] = []
        for n in shown:
            if out and n - out[-1] > 1:
                out.append(None)
            out.append(n)
        return out
