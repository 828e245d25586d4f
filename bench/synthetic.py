"""Synthetic libraries for benchmarks that need many segments fast: real Store rows and vector
indexes, video-like vectors instead of decoded video (decoding 100k segments takes hours).

Video-like: frames come in shots of ~50 whose embeddings are close (cosine ~0.9 between two
frames of a shot), and a text query lands near one shot at cosine ~0.4, as CLIP places a
caption near its pictures. Uniform random vectors have no neighbours to find: an inverted file
reads recall 0.23 on them whatever its quality, so a bench on them can't tell indexes apart."""

from __future__ import annotations

import numpy as np

from tests.media import chirp, noise, place, speech, tone
from vidseek.indexer.decode import AUDIO_RATE
from vidseek.search.records import Fingerprint, MediaInfo, Segment, unit
from vidseek.search.store import Store

WORDS = ("red blue green car dog cat person running night day beach city street music crowd "
         "water fire snow tree mountain kitchen talking laughing bird plane train road sunset").split()


FRAMES_PER_SHOT = 50
WITHIN_SHOT = 0.9  # cosine between two frames of one shot
QUERY_TO_SHOT = 0.4  # cosine between a text query and the centre of its shot


def shot_centres(shots: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """One unit direction per shot number, the same for a shot whatever else is asked."""
    return unit(np.stack([np.random.default_rng([seed, int(k)]).standard_normal(dim)
                           for k in shots]))


def near(centres: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector beside each centre at about `cosine` to it: the centre plus noise of the
    norm that gives that angle (noise of norm s is orthogonal-ish in high dimension, so the
    cosine is 1/sqrt(1 + s^2))."""
    s = np.sqrt(1 / cosine**2 - 1)
    noise = rng.standard_normal(centres.shape) / np.sqrt(centres.shape[1])
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


def fill_store(store: Store, n_segments: int, dim: int, model_spec: str,
               per_video: int = 1000, speech_share: float = 0.0, seed: int = 0,
               first_video: int = 0) -> None:
    """Add `n_segments` segments with video-like vectors (`video_frames`, shot after shot),
    `per_video` per fake video: frames one second apart and, for `speech_share` of them,
    10-second transcript chunks (see `spoken_words`)."""
    rng = np.random.default_rng(seed)
    store.bind_model("clip_model", model_spec, dim)
    info = MediaInfo(duration=float(per_video), fps=30.0, width=1280, height=720, has_audio=False)
    for v in range(first_video * per_video, first_video * per_video + n_segments, per_video):
        n = min(per_video, first_video * per_video + n_segments - v)
        n_speech = round(n * speech_share)
        vectors = video_frames(n, dim, seed, first_shot=v // FRAMES_PER_SHOT)
        segments = [Segment("frame", float(i), float(i + 1), vectors[i]) for i in range(n - n_speech)]
        segments += [Segment("speech", 10.0 * i, 10.0 * i + 10, vectors[n - n_speech + i],
                             text=spoken_words(rng, 25), language="en")
                     for i in range(n_speech)]
        store.save_video(f"/synthetic/video{v // per_video:05d}.mp4",
                         Fingerprint(size=1, mtime_ns=1, content_hash=f"{v:040x}"), info, segments)


def spoken_words(rng: np.random.Generator, n: int, vocabulary: int = 5000) -> str:
    """`n` words drawn as in speech: Zipf-distributed over `vocabulary` words, with the query
    words among the moderately common ones (rank 200 on), so each query word is in a few
    percent of 25-word chunks and keyword search has real matches to rank."""
    ranks = np.arange(1, vocabulary + 1)
    p = 1.0 / ranks
    chosen = rng.choice(vocabulary, size=n, p=p / p.sum())
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
