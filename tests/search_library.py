"""A small indexed library with known content, shared by the web API and browser tests.

Scenes are solid colours chosen far apart in the tiny random model's space, so a clip cut from
one video is identifiable, and aligned, by its sequence of colours."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from tests.conftest import make_settings
from tests.media import Scene, write_video
from vidseek.core.records import Segment
from vidseek.indexer.discover import examine
from vidseek.library import Library
from vidseek.models.encoders import ImageTextEncoder

SCENE_S = 2
SOURCE_COLOURS = [(220, 30, 30), (30, 200, 60), (30, 60, 220), (240, 220, 40),
                  (40, 200, 200), (120, 60, 20), (250, 250, 250), (200, 40, 200)]
EXCERPT_SCENES = slice(3, 7)  # source seconds 6..14
SPOKEN = "the quick brown fox jumps over the lazy dog"


@dataclass(frozen=True)
class SearchLibrary:
    library: Library
    root: Path
    source: Path  # 16 s of eight coloured scenes
    excerpt: Path  # scenes 3..6 of the source (its seconds 6..14), indexed as its own video
    other: Path  # a grey scene with a moving square, then near-black; with a transcript
    broken: Path  # not a video: indexed as failed
    clip: Path  # source seconds 5..13, outside the library (an upload)

    def video_id(self, path: Path) -> int:
        return self.library.store.video_by_path(str(path)).id


def source_scenes(start_s: float, end_s: float) -> list[Scene]:
    """The source video's scenes between two of its seconds."""
    scenes = []
    for i, colour in enumerate(SOURCE_COLOURS):
        t0, t1 = max(start_s, i * SCENE_S), min(end_s, (i + 1) * SCENE_S)
        if t1 > t0:
            scenes.append(Scene(t1 - t0, colour))
    return scenes


def build_search_library(tmp: Path, encoder: ImageTextEncoder) -> SearchLibrary:
    """Write the videos, index them with the tiny model, and add a transcript to `other`."""
    root = tmp / "videos"
    root.mkdir(parents=True)
    source = write_video(root / "source.mp4", source_scenes(0, 16))
    excerpt = write_video(root / "excerpt.mp4", [Scene(SCENE_S, c)
                                                 for c in SOURCE_COLOURS[EXCERPT_SCENES]])
    other = write_video(root / "other.mp4", [Scene(3, (128, 128, 128), moving_square=True),
                                             Scene(3, (10, 10, 10))])
    broken = root / "broken.mp4"
    broken.write_bytes(b"this is not an mp4 file " * 64)
    clip = write_video(tmp / "clip.mp4", source_scenes(5, 13))
    # Every hit counted (evidence_z 0): the tests on this library check what the API and the
    # CLI return for any query, and the tiny model's similarities are noise the gate drops.
    library = Library(make_settings(tmp / "data", evidence_z=0.0), encoder)
    library.indexer.index(root)
    _add_transcript(library, other)
    return SearchLibrary(library, root, source, excerpt, other, broken, clip)


def copy_search_library(built: SearchLibrary, tmp: Path,
                        encoder: ImageTextEncoder) -> SearchLibrary:
    """A library of its own, copied from `built`'s closed data folder, for a test module that
    may write to it (labels, say); the videos stay where they are, read by both."""
    settings = built.library.settings
    shutil.copytree(settings.data_dir, tmp / "data")
    return replace(built, library=Library(replace(settings, data_dir=tmp / "data"), encoder))


def _add_transcript(library: Library, path: Path) -> None:
    """Store `other` again with one speech segment, as the speech stage would have made it;
    the tests need no speech recogniser for what the API does with a transcript."""
    analyzed = library.indexer.analyze(path)
    info, segments = analyzed.info, analyzed.segments
    vector = library.encoder.embed_texts([SPOKEN])[0]
    speech = Segment("speech", 3.2, 5.6, vector, text=SPOKEN, language="en")
    fp = examine(path).fingerprint
    library.store.save_video(str(path), fp, info, segments + [speech])
    library.store.save_indexes()
