"""What produced the stored vectors: the `index_state` key/values (model specs, the vectors'
dimension, the audio projection's record). A library never mixes vectors of two models: a
store opened with another model than the one recorded is refused with the way out."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from vidseek.core.errors import ModelMismatch
from vidseek.core.records import FACE
from vidseek.search.storage.schema import IndexState

# The key of each vector space's dimension: faces have a space of their own (the face model's).
DIM_KEYS = {FACE: "face_dim"}


def write_state(s: Session, **values: str) -> None:
    """Record these key/values inside the transaction `s`."""
    for key, value in values.items():
        s.merge(IndexState(key=key, value=str(value)))


def erase_state(s: Session) -> None:
    """Forget every key inside the transaction `s` (the vectors are being dropped)."""
    s.execute(delete(IndexState))


class ModelState:
    """The `index_state` table of one library."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def state(self) -> dict[str, str]:
        """Every recorded key/value."""
        with Session(self.engine) as s:
            return {row.key: row.value for row in s.scalars(select(IndexState))}

    def set_state(self, **values: str) -> None:
        """Record these key/values."""
        with Session(self.engine) as s, s.begin():
            write_state(s, **values)

    @property
    def dim(self) -> int | None:
        """The dimension of the stored vectors; None before any model was bound."""
        return self.dim_of("frame")

    def dim_of(self, modality: str) -> int | None:
        """The dimension of one modality's vectors (of its space); None before its model was
        bound."""
        value = self.state().get(DIM_KEYS.get(modality, "dim"))
        return int(value) if value else None

    def check_model(self, key: str, spec: str, in_use: bool) -> None:
        """Refuse to mix: raise ModelMismatch when the vectors recorded under `key` exist
        (`in_use`) and were made by another model than `spec`."""
        stored = self.state().get(key)
        if in_use and stored not in (None, spec):
            raise ModelMismatch(
                f"this library's {key.replace('_', ' ')} was {stored} but the settings ask for "
                f"{spec}; run `vidseek reindex --reembed` to redo it with {spec}, "
                f"or set the model back to {stored}")

    def bind_model(self, key: str, spec: str, dim: int, in_use: bool,
                   dim_key: str = "dim") -> None:
        """Record the model behind `key`'s vectors (of dimension `dim_key`), refusing to mix it
        with another one whose vectors are `in_use`."""
        self.check_model(key, spec, in_use)
        self.set_state(**{key: spec, dim_key: str(dim)})
