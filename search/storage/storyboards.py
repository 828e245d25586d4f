"""Storyboards in SQL: one row per video (its sprite and tile times), written in the video's
own transaction and gone with it (the row cascades when the video is deleted)."""

from __future__ import annotations

import json

from sqlalchemy import Engine, delete, exists, select
from sqlalchemy.orm import Session

from vidseek.core.records import Storyboard, StoryboardTiles
from vidseek.search.storage.schema import SegmentRow, StoryboardRow, Thumbnail, Video

_TILE_COLUMNS = (StoryboardRow.times, StoryboardRow.tile_width, StoryboardRow.tile_height,
                 StoryboardRow.columns)


def write_storyboard(session: Session, video_id: int, storyboard: Storyboard | None) -> None:
    """Replace the video's storyboard with this one; None leaves it without one."""
    session.execute(delete(StoryboardRow).where(StoryboardRow.video_id == video_id))
    if storyboard is not None:
        tiles = storyboard.tiles
        session.add(StoryboardRow(video_id=video_id, jpeg=storyboard.jpeg,
                                  times=json.dumps([round(t, 3) for t in tiles.times]),
                                  tile_width=tiles.tile_width, tile_height=tiles.tile_height,
                                  columns=tiles.columns))


def _tiles(times: str, tile_width: int, tile_height: int, columns: int) -> StoryboardTiles:
    return StoryboardTiles(tuple(json.loads(times)), tile_width, tile_height, columns)


class StoryboardTable:
    """Reads the stored storyboards: a video without one is a failed video, or one indexed
    before storyboards were made."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def get(self, video_id: int) -> Storyboard | None:
        """The video's storyboard, sprite and tiles."""
        with Session(self.engine) as s:
            row = s.execute(select(StoryboardRow.jpeg, *_TILE_COLUMNS)
                            .where(StoryboardRow.video_id == video_id)).first()
        return None if row is None else Storyboard(row[0], _tiles(*row[1:]))

    def tiles(self, video_ids: list[int]) -> dict[int, StoryboardTiles]:
        """Where the tiles are in these videos' sprites (without reading the sprites), by id."""
        with Session(self.engine) as s:
            rows = s.execute(select(StoryboardRow.video_id, *_TILE_COLUMNS)
                             .where(StoryboardRow.video_id.in_(video_ids))).all()
        return {row[0]: _tiles(*row[1:]) for row in rows}

    def missing(self) -> list[int]:
        """The indexed videos without a storyboard (indexed before storyboards were made)."""
        with Session(self.engine) as s:
            return list(s.scalars(
                select(Video.id).where(Video.status == "indexed", ~exists().where(
                    StoryboardRow.video_id == Video.id)).order_by(Video.id)))

    def frame_thumbnails(self, video_id: int) -> list[tuple[float, bytes]]:
        """A video's frame thumbnails in time order, each with the second it is from."""
        with Session(self.engine) as s:
            return [(t0, jpeg) for t0, jpeg in s.execute(
                select(SegmentRow.t0, Thumbnail.jpeg)
                .join(Thumbnail, Thumbnail.segment_id == SegmentRow.id)
                .where(SegmentRow.video_id == video_id, SegmentRow.modality == "frame")
                .order_by(SegmentRow.t0, SegmentRow.id))]

    def save(self, video_id: int, storyboard: Storyboard) -> None:
        """Store a storyboard made after its video was (one whose video is gone is dropped)."""
        with Session(self.engine) as s, s.begin():
            if s.get(Video, video_id) is not None:
                write_storyboard(s, video_id, storyboard)
