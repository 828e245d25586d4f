"""Models found by spec string. Each model role (image+text, speech, audio, on-screen text) has
one registry of backends keyed by the spec's prefix (`open_clip:ViT-B-32/laion2b_s34b_b79k`,
`faster-whisper:base`, `whisper-encoder:base`, `rapidocr:ppocr-v4`), so a new backend is one
class and one entry, and `vidseek models` reports every role the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from vidseek.core.errors import ModelUnavailable
from vidseek.core.settings import Settings

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class Spec:
    backend: str
    name: str
    tag: str = ""

    @classmethod
    def parse(cls, spec: str) -> Spec:
        backend, sep, rest = spec.partition(":")
        name, _, tag = rest.partition("/")
        if not sep or not name:
            raise ValueError(f"model spec {spec!r} is not BACKEND:NAME/TAG, "
                             "e.g. open_clip:ViT-B-32/laion2b_s34b_b79k")
        return cls(backend, name, tag)

    def __str__(self) -> str:
        return f"{self.backend}:{self.name}/{self.tag}" if self.tag else f"{self.backend}:{self.name}"


class Backend(Protocol[T_co]):
    """One registry entry: builds the model a spec names (lazily: weights load on first use
    where they can), and says whether that model is installed here, where, or what the fix is."""

    def load(self, spec: Spec, settings: Settings) -> T_co: ...

    def installed(self, spec: Spec, settings: Settings, download: bool) -> tuple[bool, str]:
        """(installed, detail); with `download`, fetch what is missing first."""
        ...


class Registry(dict[str, Backend[T]], Generic[T]):
    """The backends of one model role, keyed by spec prefix; the spec in use comes from
    settings (`spec_for`)."""

    def __init__(self, role: str, noun: str, setting: str, spec_for: Callable[[Settings], Spec],
                 backends: dict[str, Backend[T]]):
        super().__init__(backends)
        self.role = role  # as `vidseek models` names it
        self.noun = noun  # what one backend is called in an error
        self.setting = setting  # the setting that chooses the backend
        self.spec_for = spec_for

    def find(self, spec: Spec) -> Backend[T]:
        """The backend for `spec`; ModelUnavailable naming the known ones and the setting."""
        if spec.backend not in self:
            raise ModelUnavailable(
                f"unknown {self.noun} {spec.backend!r} (in {spec}); known: {', '.join(self)}. "
                f"Fix: set VIDSEEK_{self.setting.upper()}")
        return self[spec.backend]

    def load(self, settings: Settings) -> T:
        """The configured model of this role."""
        spec = self.spec_for(settings)
        return self.find(spec).load(spec, settings)
