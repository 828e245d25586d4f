"""Synthetic libraries for benchmarks that need many segments fast: real Store rows and vector
indexes, video-like vectors instead of decoded video (decoding 100k segments takes hours).

Video-like: frames come in shots of ~50 whose embeddings are close (cosine ~0.9 between two
frames of a shot), and a text query lands near one shot at cosine ~0.4, as CLIP places a
caption near its pictures. Uniform random vectors have no neighbours to find: an inverted file
reads recall 0.23 on them whatever its quality, so a bench on them can't tell indexes apart."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tests.media import chirp, noise, place, speech, tone
from vidseek.core.records import Fingerprint, MediaInfo, Segment, unit
from vidseek.indexer.decode import AUDIO_RATE
from vidseek.search.storage.catalogue import record_indexed
from vidseek.search.storage.index_set import bump_generations
from vidseek.search.storage.schema import Video
from vidseek.search.storage.segment_table import vector_to_blob
from vidseek.search.storage.store import Store

WORDS = ("red blue green car dog cat person running night day beach city street music crowd "
         "water fire snow tree mountain kitchen talking laughing bird plane train road sunset").split()


FRAMES_PER_SHOT = 50
WITHIN_SHOT = 0.9  # cosine between two frames of one shot
QUERY_TO_SHOT = 0.4  # cosine between a text query and the centre of its shot
ZIPF_VOCABULARY = 5000
_ZIPF = 1.0 / np.arange(1, ZIPF_VOCABULARY + 1)
ZIPF_CDF = np.cumsum(_ZIPF) / _ZIPF.sum()
# The rows Store.save_video writes for a segment (SegmentChange.add), in SQLite's parameter
# style: written by the driver's executemany, without SQLAlchemy's per-row processing.
INSERT_SEGMENT = ("INSERT INTO segments (video_id, modality, t0, t1, text, language, vector) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?)")


def shot_centres(shots: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """One unit direction per shot number, the same for a shot whatever else is asked."""
    return unit(np.stack([np.random.default_rng([seed, int(k)]).standard_normal(dim)
                           for k in shots]))


def near(centres: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector beside each centre at about `cosine` to it: the centre plus noise of the
    norm that gives that angle (noise of norm s is orthogonal-ish in high dimension, so the
    cosine is 1/sqrt(1 + s^2))."""
    s = np.sqrt(1 / cosine**2 - 1)
    noise = rng.standard_normal(centres.shape, dtype=np.float32) / np.sqrt(centres.shape[1])
    return unit(centres + s * noise)


def video_frames(n: int, dim: int, seed: int = 0, first_shot: int = 0) -> np.ndarray:
    """`n` frame vectors, FRAMES_PER_SHOT consecutive ones per shot, shots `first_shot` on
    (shot k's centre is the same whatever `n`, so later frames of a shot can be held out)."""
    rng = np.random.default_rng([seed, first_shot, n])
    centres = shot_centres(np.arange(first_shot, first_shot - (-n // FRAMES_PER_SHOT)), dim, seed)
    # Two frames at cosine c to their centre are at c^2 to each other.
    return near(np.repeat(centres, FRAMES_PER_SHOT, axis=0)[:n], np.sqrt(WITHIN_SHOT), rng)


def text_queries(n_shots: int, n: int, dim: int, seed: int = 0,
                 library_seed: int = 0) -> np.ndarray:
    """`n` text-like query vectors (`seed` picks them), each near a random one of the first
    `n_shots` shots of the library made with `library_seed`."""
    rng = np.random.default_rng([seed, 2**32 - 1])
    centres = shot_centres(rng.integers(0, n_shots, n), dim, library_seed)
    return near(centres, QUERY_TO_SHOT, rng)


def synthetic_video(number: int, n: int, dim: int, speech_share: float = 0.0,
                    seed: int = 0, per_video: int = 1000) -> list[Segment]:
    """The `n` segments of fake video `number` (video-like vectors, `video_frames`, shots
    following those of the videos before it): frames one second apart and, for
    `speech_share` of them, 10-second transcript chunks (see `spoken_words`). The same
    whatever was written before, so a killed fill resumes with the very same videos."""
    rng = np.random.default_rng([seed, number])
    n_speech = round(n * speech_share)
    vectors = video_frames(n, dim, seed, first_shot=number * per_video // FRAMES_PER_SHOT)
    segments = [Segment("frame", float(i), float(i + 1), vectors[i]) for i in range(n - n_speech)]
    return segments + [Segment("speech", 10.0 * i, 10.0 * i + 10, vectors[n - n_speech + i],
                               text=spoken_words(rng, 25), language="en")
                       for i in range(n_speech)]


def synthetic_path(number: int) -> str:
    return f"/synthetic/video{number:05d}.mp4"


SYNTHETIC_FINGERPRINT = Fingerprint(size=1, mtime_ns=1)


def fill_store(store: Store, n_segments: int, dim: int, model_spec: str,
               per_video: int = 1000, speech_share: float = 0.0, seed: int = 0,
               videos_per_commit: int = 50, progress: bool = False) -> None:
    """Make the library hold `n_segments` segments in fake videos of `per_video` each
    (`synthetic_video`), writing only the videos it lacks: a killed fill resumes where it
    stopped. The rows are those Store.save_video writes (videos, segments, the full-text
    index through its trigger, one generation bump per commit), but many videos to a
    transaction and the segments by executemany, and no index follows in memory: an index
    reconciles with SQL (or is built) when it is next opened or saved, as after another
    writer's changes."""
    store.bind_model("clip_model", model_spec, dim)
    n_videos = -(-n_segments // per_video)
    with store.engine.connect() as c:
        done = c.scalar(select(func.count(Video.id)).where(Video.path.like("/synthetic/video%")))
    started, written = time.monotonic(), 0
    for first in range(done, n_videos, videos_per_commit):
        numbers = range(first, min(first + videos_per_commit, n_videos))
        with Session(store.engine) as s, s.begin():
            if store.engine.name == "sqlite":
                # 256 MB of page cache: the segment table's indexes stay in memory as they grow.
                s.execute(text("PRAGMA cache_size=-262144"))
            rows, modalities = [], set()
            for number in numbers:
                n = min(per_video, n_segments - number * per_video)
                segments = synthetic_video(number, n, dim, speech_share, seed, per_video)
                info = MediaInfo(float(per_video), 30.0, 1280, 720, has_audio=False)
                video = Video(path=synthetic_path(number))
                record_indexed(video, replace(SYNTHETIC_FINGERPRINT,
                                              content_hash=f"{number * per_video:040x}"),
                               info, None)
                s.add(video)
                s.flush()
                rows += [(video.id, g.modality, g.t0, g.t1, g.text, g.language,
                          vector_to_blob(g.vector)) for g in segments]
                modalities |= {g.modality for g in segments}
            s.connection().exec_driver_sql(INSERT_SEGMENT, rows)
            bump_generations(s, modalities)
        written += len(rows)
        if progress:
            elapsed = time.monotonic() - started
            print(f"  fill: {numbers[-1] + 1} of {n_videos} videos, {written} segments in "
                  f"{elapsed:.0f} s ({written / max(elapsed, 1e-9):.0f}/s)", flush=True)
    store.save_indexes()  # indexes this store holds open follow what was written


def spoken_words(rng: np.random.Generator, n: int) -> str:
    """`n` words drawn as in speech: Zipf-distributed over ZIPF_VOCABULARY words, with the
    query words among the moderately common ones (rank 200 on), so each query word is in a
    few percent of 25-word chunks and keyword search has real matches to rank."""
    chosen = np.searchsorted(ZIPF_CDF, rng.random(n), side="right")
    return " ".join(WORDS[r - 200] if 200 <= r < 200 + len(WORDS) else f"word{r}" for r in chosen)


def queries(n: int, seed: int = 1) -> list[str]:
    """`n` distinct natural-looking queries, so no cache can answer them."""
    rng = np.random.default_rng(seed)
    out: set[str] = set()
    while len(out) < n:
        out.add("a " + " ".join(rng.choice(WORDS, size=rng.integers(2, 6), replace=False)))
    return sorted(out)


SENTENCES = [
    "Good morning everyone, and thank you for joining the quarterly planning meeting.",
    "We must finish the budget before the deadline on Friday afternoon.",
    "The marketing team has prepared three proposals for the spring campaign.",
    "Sales in the northern region grew by twelve percent compared to last year.",
    "Please send your questions to the project office before the end of the week.",
    "The children are playing football in the park behind the old library.",
    "Our new warehouse will open in September if the permits arrive on time.",
    "My grandmother keeps an old saxophone under her bed.",
    "Let us take a short break and continue with the engineering update.",
    "The test results look promising, but we need more data from the field.",
]


def speech_track(seconds: float, seed: int = 0) -> np.ndarray:
    """Sentences one after another with short natural pauses, `seconds` long."""
    rng = np.random.default_rng(seed)
    spoken = [speech(s) for s in SENTENCES]
    clips, t, i = [], 0.0, 0
    while t < seconds:
        clips.append((t, spoken[i % len(spoken)]))
        t += len(spoken[i % len(spoken)]) / AUDIO_RATE + rng.uniform(0.3, 1.2)
        i += 1
    return place(seconds, clips)


def changing_frames(size: tuple[int, int], fps: int):
    """A new picture every second, so the scene filter keeps every sampled frame (the most
    embedding work a video can ask for at 1 frame per second)."""
    w, h = size
    ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]

    def frame(i: int) -> np.ndarray:
        color = np.random.default_rng(i // fps).integers(0, 256, 3).astype(np.float32)
        return np.broadcast_to(color * ramp, (h, w, 3)).astype(np.uint8)

    return frame


def sound_track(seconds: float) -> np.ndarray:
    """Speech, with a tone, a chirp or a burst of noise every 7 s: sounds of every kind."""
    events = [tone(440, 2.0), chirp(300, 3000, 2.0), noise(2.0, seed=2)]
    starts = np.arange(3.0, seconds - 2.0, 7.0)
    return speech_track(seconds) + place(seconds, [(t, events[i % len(events)])
                                                   for i, t in enumerate(starts)])
