"""Frames first: a file is stored with its frames alone, searchable as soon as they are
embedded, and marked with the signals still to come (speech, sound, on-screen text,
subtitles); a later pass adds them, video by video, without embedding the frames again.

Both passes resume after a kill: a file whose frames did not commit is still pending (or
changed) for the next run, and a video whose later pass did not commit still names the signals
it awaits (`videos.analysis_pending`), in the one transaction that stored its frames."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from vidseek.indexer.analysis import Analyzer, Job, Stages
from vidseek.indexer.executors import LocalExecutor
from vidseek.indexer.pipeline import Indexer, IndexReport, Progress
from vidseek.search.storage.store import VideoRecord


def later_signals(stages: Stages) -> list[str]:
    """The signals the later pass adds, as configured, in the order they are named to users."""
    names = [stage.modality for stage in stages.audio]
    names += [getattr(stage, "modality", "frame stage") for stage in stages.frames]
    return names + (["subtitles"] if stages.subtitles is not None else [])


def changed_since(video: VideoRecord) -> bool:
    """Whether the file of `video` is gone, or its size or time differ from those recorded."""
    try:
        st = os.stat(video.path)
    except FileNotFoundError:
        return True
    return (st.st_size, st.st_mtime_ns) != (video.size, video.mtime_ns)


class FramesFirst:
    """The two passes over the library that `indexer` writes with its stages."""

    def __init__(self, indexer: Indexer):
        self.indexer = indexer
        settings, store, encoder, stages = (indexer.settings, indexer.store, indexer.encoder,
                                            indexer.stages)
        self.signals = later_signals(stages)
        # The subtitle stage stays with the frames pass only to notice a subtitle file that
        # changed beside a complete video (read again then, as a full run does).
        self.frames = Indexer(settings, store, encoder, Stages(subtitles=stages.subtitles),
                              LocalExecutor(Analyzer(settings, encoder, Stages())),
                              analysis_pending=",".join(self.signals) or None)
        self.later = Analyzer(settings, encoder, stages, embed_frames=False)

    def index_frames(self, paths: list[Path],
                     on_progress: Callable[[Progress], None] | None = None) -> IndexReport:
        """The frames pass of these files (those whose bytes the library holds are skipped)."""
        return self.frames.index_files(paths, on_progress)

    def add_signals(self, video: VideoRecord) -> str | None:
        """The later pass of one video: its other signals, stored in one transaction. None when
        stored; else why not: "changed" (the file is no longer the bytes whose frames are
        stored, or is gone: its frames pass or its removal comes first), or the reason the
        signals failed (the frames stay, the reason becomes the video's warning)."""
        result = self.later.analyze(Job(Path(video.path)))
        store = self.indexer.store
        if result.content_hash != video.content_hash or (result.error is not None
                                                         and changed_since(video)):
            return "changed"  # or gone: deleted or rewritten while it was read
        if result.error is not None:
            store.save_signals(video.id, [], None, f"later signals failed: {result.error}")
            return result.error
        segments = result.segments + self.indexer.audio_segments(result.audio)
        self.indexer.bind_face_model()  # the frames pass, without faces, did not
        store.save_signals(video.id, segments, result.audio, result.warning)
        return None
