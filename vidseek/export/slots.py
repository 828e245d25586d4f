"""How much exporting may cost at once: a number of slots, and the disk they must leave free.
No media library is imported here, so the Library can hold its slots from the start."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vidseek.core.errors import ExportBusy, NotEnoughDisk


def estimated_size(source_size: int, duration: float, t0: float, t1: float) -> int:
    """Bytes a clip may take: twice its span's share of the source (its head GOP, or a
    re-encode at a higher rate), and a megabyte for the index."""
    share = (t1 - t0) / duration if duration > 0 else 1.0
    return int(2 * source_size * min(1.0, share)) + 2**20


class ExportSlots:
    """How many exports may run at once, and how much disk they must leave free: one that
    would pass either is refused at once, before it writes anything."""

    def __init__(self, slots: int, min_free_bytes: int):
        self.slots = max(1, slots)
        self.min_free_bytes = min_free_bytes
        self._lock = threading.Lock()
        self._running = 0
        self._reserved = 0  # bytes the running exports may still write

    @contextmanager
    def taken(self, folder: Path, needed_bytes: int) -> Iterator[None]:
        """A slot for an export that writes up to `needed_bytes` into `folder`; ExportBusy
        when every slot is taken, NotEnoughDisk when the disk would be left too full."""
        with self._lock:
            if self._running >= self.slots:
                raise ExportBusy(f"{self._running} exports are running already (setting "
                                 "export_slots); try again when one has finished")
            free = shutil.disk_usage(folder).free - self._reserved
            if free - needed_bytes < self.min_free_bytes:
                raise NotEnoughDisk(
                    f"the export needs up to {needed_bytes / 2**20:.0f} MB and would leave less "
                    f"than {self.min_free_bytes / 2**20:.0f} MB free in {folder} (setting "
                    "export_min_free_mb); free some disk space")
            self._running += 1
            self._reserved += needed_bytes
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                self._reserved -= needed_bytes
