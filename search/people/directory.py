"""The people of one library, in SQL: face tracks grouped by clustering (clustering.py), named,
merged, split, hidden and forgotten by the user, and where each is on screen.

A person keeps its centroid when its tracks go (a video indexed again drops its face segments,
and their tracks with them), so the tracks the new run finds join the same person: names,
merges and hides survive a re-index and new videos. An unnamed, unhidden person left with no
track is dropped."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from vidseek.core.errors import NameTaken, PersonError, UnknownPerson
from vidseek.core.records import FACE
from vidseek.search.labels.labeling import MAX_NAME, NAME_PATTERN, LabelSpans
from vidseek.search.people.clustering import centroid, group
from vidseek.search.storage.schema import FaceTrack, Person, SegmentRow
from vidseek.search.storage.segment_table import blob_to_vector, vector_to_blob
from vidseek.search.storage.store import Store

# A person's name keeps a label name's rule (one pattern for Python and the API document), and
# needs a letter, not just digits: a number names a person by id.
NAME_NEEDS_LETTER = NAME_PATTERN.replace(r"\x00-\x2f\x3a-\x40", r"\x00-\x40", 1)


@dataclass(frozen=True)
class PersonInfo:
    """One person as listed: how much of the library they are in, and the face to show."""

    id: int
    name: str | None
    hidden: bool
    tracks: int
    videos: int
    seconds: float  # on screen, all tracks added up
    face: int | None  # the face segment whose crop shows them best (largest)

    @property
    def label(self) -> str:
        """The name, or what stands for it until there is one."""
        return self.name or f"person {self.id}"

    def payload(self) -> dict:
        return {"id": self.id, "name": self.name, "label": self.label, "hidden": self.hidden,
                "tracks": self.tracks, "videos": self.videos,
                "seconds": round(self.seconds, 3), "face_segment": self.face}


@dataclass(frozen=True)
class FaceTrackInfo:
    """One face track: a face followed through a shot."""

    segment_id: int
    video_id: int
    t0: float
    t1: float
    box: tuple[float, float, float, float]  # 0-1 of the frame, where the face was largest
    person_id: int | None


@dataclass(frozen=True)
class ClusterReport:
    joined: int  # tracks that joined a person already known
    founded: int  # new people
    waiting: int  # tracks alike to no one yet


_TRACKS = (select(FaceTrack.segment_id, FaceTrack.video_id, SegmentRow.t0, SegmentRow.t1,
                  FaceTrack.x0, FaceTrack.y0, FaceTrack.x1, FaceTrack.y1, FaceTrack.person_id)
           .join(SegmentRow, SegmentRow.id == FaceTrack.segment_id))


def _track(row) -> FaceTrackInfo:
    return FaceTrackInfo(row.segment_id, row.video_id, row.t0, row.t1,
                         (row.x0, row.y0, row.x1, row.y1), row.person_id)


class People:
    """The people of one library."""

    def __init__(self, store: Store, similarity: float, min_tracks: int):
        self.store = store
        self.engine = store.engine
        self.similarity = similarity
        self.min_tracks = min_tracks

    # --- clustering --------------------------------------------------------------------------
    def cluster(self) -> ClusterReport:
        """Give the tracks that have no person one (clustering.py's rule), in one transaction."""
        with Session(self.engine) as s, s.begin():
            rows = s.execute(select(FaceTrack.segment_id, SegmentRow.vector)
                             .join(SegmentRow, SegmentRow.id == FaceTrack.segment_id)
                             .where(FaceTrack.person_id.is_(None))
                             .order_by(FaceTrack.segment_id)).all()
            people = s.scalars(select(Person).order_by(Person.id)).all()
            report = ClusterReport(0, 0, 0)
            if rows:
                ids = [r.segment_id for r in rows]
                vectors = np.stack([blob_to_vector(r.vector) for r in rows])
                centroids = (np.stack([blob_to_vector(p.centroid) for p in people])
                             if people else np.zeros((0, vectors.shape[1]), np.float32))
                grouping = group(vectors, centroids, self.similarity, self.min_tracks)
                changed = set()
                for track, person in grouping.joined.items():
                    self._assign(s, [ids[track]], people[person].id)
                    changed.add(people[person].id)
                for members in grouping.founded:
                    person = self._new_person(s, vectors[members])
                    self._assign(s, [ids[m] for m in members], person.id)
                self._refresh(s, changed)
                report = ClusterReport(len(grouping.joined), len(grouping.founded),
                                       len(grouping.waiting))
            self._drop_empty(s)
        return report

    @staticmethod
    def _assign(s: Session, segment_ids: list[int], person_id: int | None) -> None:
        s.execute(update(FaceTrack).where(FaceTrack.segment_id.in_(segment_ids))
                  .values(person_id=person_id))

    @staticmethod
    def _new_person(s: Session, vectors: np.ndarray) -> Person:
        person = Person(name=None, hidden=False, centroid=vector_to_blob(centroid(vectors)),
                        tracks=len(vectors), created_at=datetime.now(UTC).replace(tzinfo=None))
        s.add(person)
        s.flush()
        return person

    @staticmethod
    def _refresh(s: Session, person_ids) -> None:
        """Each person's centroid again from the tracks they hold now (kept when none)."""
        for person_id in person_ids:
            blobs = s.scalars(select(SegmentRow.vector)
                              .join(FaceTrack, FaceTrack.segment_id == SegmentRow.id)
                              .where(FaceTrack.person_id == person_id)).all()
            if blobs:
                s.execute(update(Person).where(Person.id == person_id).values(
                    centroid=vector_to_blob(centroid(np.stack([blob_to_vector(b)
                                                               for b in blobs]))),
                    tracks=len(blobs)))

    @staticmethod
    def _drop_empty(s: Session) -> None:
        held = select(FaceTrack.person_id).where(FaceTrack.person_id.is_not(None))
        s.execute(delete(Person).where(Person.name.is_(None), Person.hidden.is_(False),
                                       Person.id.not_in(held)))

    # --- reading -----------------------------------------------------------------------------
    def all(self, hidden: bool = False) -> list[PersonInfo]:
        """Every person (and the hidden ones, with `hidden`): named first, then by time on
        screen."""
        with Session(self.engine) as s:
            people = s.scalars(select(Person)).all()
            tracks = [_track(r) for r in s.execute(_TRACKS.where(FaceTrack.person_id.is_not(None)))]
        by_person: dict[int, list[FaceTrackInfo]] = {}
        for t in tracks:
            by_person.setdefault(t.person_id, []).append(t)
        found = [_info(p, by_person.get(p.id, [])) for p in people if hidden or not p.hidden]
        return sorted(found, key=lambda p: (p.name is None, -p.seconds, p.id))

    def find(self, ref: str | int) -> PersonInfo:
        """A person by id or by name; UnknownPerson saying how to list them."""
        with Session(self.engine) as s:
            person = self._row(s, ref)
            tracks = [_track(r) for r in s.execute(_TRACKS.where(FaceTrack.person_id == person.id))]
        return _info(person, tracks)

    @staticmethod
    def _row(s: Session, ref: str | int) -> Person:
        text = str(ref).strip()
        by_id = text.isascii() and text.isdigit() and len(text) < 19  # an id fits 64 bits
        person = s.get(Person, int(text)) if by_id else None
        person = person or s.scalar(select(Person).where(Person.name == text))
        if person is None:
            raise UnknownPerson(f"no person is called or numbered {text!r}; `vidseek people "
                                "list` (or GET /api/people) lists them")
        return person

    def tracks(self, ref: str | int) -> list[FaceTrackInfo]:
        """A person's face tracks, by video and time."""
        with Session(self.engine) as s:
            person = self._row(s, ref)
            rows = s.execute(_TRACKS.where(FaceTrack.person_id == person.id)
                             .order_by(FaceTrack.video_id, SegmentRow.t0)).all()
        return [_track(r) for r in rows]

    def video_tracks(self, video_id: int) -> list[FaceTrackInfo]:
        """The face tracks of one video, by time."""
        with Session(self.engine) as s:
            rows = s.execute(_TRACKS.where(FaceTrack.video_id == video_id)
                             .order_by(SegmentRow.t0, FaceTrack.segment_id)).all()
        return [_track(r) for r in rows]

    def spans(self, ref: str | int) -> LabelSpans:
        """Where a person is on screen, to keep the moments of another query that overlap it."""
        return LabelSpans.of([(t.video_id, t.t0, t.t1) for t in self.tracks(ref)])

    def video_ids(self, ref: str | int) -> list[int]:
        """The videos a person is in, by id."""
        return sorted({t.video_id for t in self.tracks(ref)})

    def facet(self) -> list[dict]:
        """The people shown (not hidden), with how many videos each is in: the people facet."""
        return [{"id": p.id, "name": p.name, "label": p.label, "videos": p.videos}
                for p in self.all() if p.videos]

    # --- the user's changes ------------------------------------------------------------------
    def name(self, ref: str | int, name: str) -> PersonInfo:
        """Name a person (or rename); NameTaken when another person has that name."""
        if len(name) > MAX_NAME or not re.fullmatch(NAME_NEEDS_LETTER, name):
            raise PersonError(f"a name is 1-{MAX_NAME} characters with a letter in them (a "
                              "number is an id), no '/' and no control character")
        name = " ".join(name.split())
        with Session(self.engine) as s, s.begin():
            person = self._row(s, ref)
            other = s.scalar(select(Person).where(Person.name == name, Person.id != person.id))
            if other is not None:
                raise NameTaken(f"{name!r} is already person {other.id}; merge them instead "
                                f"(`vidseek people merge {name!r} {person.id}`)")
            person.name = name
            person_id = person.id
        return self.find(person_id)

    def merge(self, into: str | int, others: list[str | int]) -> PersonInfo:
        """Make `others` one person with `into`: their tracks move to it; it keeps its name
        (or takes the first of theirs if it has none)."""
        with Session(self.engine) as s, s.begin():
            target = self._row(s, into)
            merged = [self._row(s, ref) for ref in others]
            if any(p.id == target.id for p in merged):
                raise PersonError("a person cannot be merged into themselves")
            name = target.name or next((p.name for p in merged if p.name), None)
            s.execute(update(FaceTrack).where(FaceTrack.person_id.in_([p.id for p in merged]))
                      .values(person_id=target.id))
            for p in merged:
                s.delete(p)
            s.flush()
            target.name = name
            target_id = target.id
            self._refresh(s, [target_id])
        return self.find(target_id)

    def split(self, ref: str | int, segment_ids: list[int]) -> PersonInfo:
        """Split these face tracks off a person (a wrong face) into a new, unnamed person."""
        with Session(self.engine) as s, s.begin():
            person = self._row(s, ref)
            held = set(s.scalars(select(FaceTrack.segment_id)
                                 .where(FaceTrack.person_id == person.id)))
            wrong = [int(i) for i in segment_ids]
            if not wrong or not set(wrong) <= held:
                raise PersonError(f"give face tracks of {person.name or 'person ' + str(person.id)} "
                                  f"to split off (their face segment ids; `vidseek people show`)")
            if set(wrong) == held:
                raise PersonError("those are all of this person's face tracks: nothing to split")
            blobs = s.scalars(select(SegmentRow.vector).where(SegmentRow.id.in_(wrong))).all()
            new = self._new_person(s, np.stack([blob_to_vector(b) for b in blobs]))
            self._assign(s, wrong, new.id)
            self._refresh(s, [person.id])
            new_id = new.id
        return self.find(new_id)

    def hide(self, ref: str | int, hidden: bool = True) -> PersonInfo:
        """Hide a person from the lists and facets (or show them again)."""
        with Session(self.engine) as s, s.begin():
            person = self._row(s, ref)
            person.hidden = hidden
            person_id = person.id
        return self.find(person_id)

    def forget(self, ref: str | int) -> int:
        """Remove a person for good: their face vectors, crops and tracks, and the person;
        returns how many face tracks were removed."""
        with Session(self.engine) as s:
            person = self._row(s, ref)
            person_id = person.id
        with self.store.indexes.change() as change:
            ids = list(change.session.scalars(select(FaceTrack.segment_id)
                                              .where(FaceTrack.person_id == person_id)))
            if ids:
                change.drop(SegmentRow.id.in_(ids), SegmentRow.modality == FACE)
            change.session.execute(delete(Person).where(Person.id == person_id))
        self.store.save_indexes()  # the vectors leave the index files now, not at close
        return len(ids)

    def count(self) -> int:
        """How many people (hidden ones too)."""
        with Session(self.engine) as s:
            return s.scalar(select(func.count(Person.id))) or 0


def _info(person: Person, tracks: list[FaceTrackInfo]) -> PersonInfo:
    largest = max(tracks, key=lambda t: (t.box[2] - t.box[0]) * (t.box[3] - t.box[1]),
                  default=None)
    return PersonInfo(person.id, person.name, person.hidden, len(tracks),
                      len({t.video_id for t in tracks}), sum(t.t1 - t.t0 for t in tracks),
                      largest.segment_id if largest else None)
