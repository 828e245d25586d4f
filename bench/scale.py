"""Scale bench: libraries of 1M+ video-like segments as `vidseek serve` sees them.

Per size it reports the index kind the memory setting led to, its build (train + add + tune)
time, bytes per vector, recall@10 and recall@100 against exact search (frame index: text-like
queries near a shot of frames, near a shot that is all transcript, and held-out frames;
transcript index: text-like queries), the serving process's start-up time (until /api/health
says ready) and RSS, API p50/p99 with 1 and 8 clients, one image query (the first: it loads the
image tower) and the RSS after it, the text encoder's own time in the same
run (how much of the latency the machine's load leaves to the rest), the load average, and the
cost of adding a 1-hour video (3,600 frames): the index work of the add, the save, how soon an
open reader sees it, and one merge of the delta into the base (amortised over the additions
between merges).

The library is synthetic (bench/synthetic.py: shots of 50 frames at cosine ~0.9, 10% transcript
chunks), written in bulk as Store.save_video would write it (10M: 17 min here); the query
model is ViT-B-32 with random weights. A library is kept in --root and reused by later runs; a
fill that was stopped resumes where it stopped, and the first run builds the indexes (their
log lines say where the build's time goes).

    python -m bench.scale --sizes 1000000 2000000
    python -m bench.scale --sizes 100000 --requests 200    # a quick check
    nohup nice -n 19 python -m bench.scale --sizes 10000000 > 10m.log &    # ~1 h; a fill resumes

Why not autofaiss itself: it picks one index for a fixed collection and writes it; vidseek
needs its indexes rebuilt from SQL, grown by a delta, and tuned on text-like queries rather
than the library's own vectors (a stored frame is found in its own list at nprobe 1, a caption
is not). The rule is autofaiss's: index kind from a memory budget, nprobe searched upwards on
held-out data to a recall target. Where the vectors run in shots (frames), vidseek's index by
shot, which autofaiss does not offer, does better than the inverted file it would pick: higher
recall@10, a faster search and fewer bytes a vector (docs/benchmarks.md, Scale)."""

from __future__ import annotations

import argparse
import http.client
import io
import logging
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np
from PIL import Image

from bench.load_test import (
    DEFAULT_MODEL,
    LoadOptions,
    build_synthetic_library,
    free_port,
    run_load,
    search_path,
    start_server,
    wait_until_up,
)
from bench.synthetic import FRAMES_PER_SHOT, QUERY_TO_SHOT, WITHIN_SHOT, near, shot_centres
from vidseek.core.records import Fingerprint, MediaInfo, Segment
from vidseek.core.settings import Settings
from vidseek.search.storage.store import Store

HOUR_FRAMES = 3600
PER_VIDEO = 1000  # segments per synthetic video
N_QUERIES = 300


def library_settings(data_dir: Path, model: str) -> Settings:
    return Settings.load(env={}, data_dir=data_dir, clip_model=model, allow_download=False)


def exact_truth(store: Store, modality: str, queries: np.ndarray, k: int) -> np.ndarray:
    """Ids of the exact k best vectors of `modality`, by brute force over every one (the
    index's float16 copies, checked against SQL on a sample)."""
    index = store.index(modality)
    base = index.base
    ids = base.places.ids
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.full((len(queries), k), -1, np.int64)
    for start in range(0, len(ids), 100_000):
        chunk = ids[start:start + 100_000]
        vectors = index.stored_vectors(chunk)
        scores = np.concatenate([best_s, queries @ vectors.T], axis=1)
        both = np.concatenate([best_i, np.broadcast_to(chunk, (len(queries), len(chunk)))], 1)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(scores, top, 1), np.take_along_axis(both, top, 1)
    sample = np.random.default_rng(0).choice(ids, 200, replace=False)
    assert np.allclose(index.stored_vectors(np.sort(sample)), store.vectors(np.sort(sample)))
    assert not len(index._delta_places), "fold the delta in before measuring recall"
    order = np.argsort(-best_s, axis=1)
    return np.take_along_axis(best_i, order, 1)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def shots_by_modality(n_shots: int, speech_share: float) -> tuple[np.ndarray, np.ndarray]:
    """The library's shots whose vectors are frames, and those that are transcript chunks
    (fill_store makes the last `speech_share` of each video's vectors speech)."""
    per_video = PER_VIDEO // FRAMES_PER_SHOT
    speech = np.arange(n_shots) % per_video >= per_video - round(per_video * speech_share)
    return np.flatnonzero(~speech), np.flatnonzero(speech)


def recall_figures(store: Store, n_shots: int, speech_share: float) -> dict[str, float]:
    """recall@10 and @100 as served, against exact search. Frame index: text-like queries near
    a shot of frames (what the tuning is for), text-like queries near a shot whose vectors are
    all transcript chunks (near nothing in the frame index: their exact top 10 are stray
    frames about as close as the next hundred), and frames of the library's shots that it does
    not hold. Transcript index: the text-like queries near a shot of its own."""
    dim = store.dim
    rng = np.random.default_rng(5)
    frame_shots, speech_shots = shots_by_modality(n_shots, speech_share)
    near_frames = shot_centres(rng.choice(frame_shots, N_QUERIES), dim)
    sets = {"frame": {"text": near(near_frames, QUERY_TO_SHOT, rng),
                      "held-out frame": near(near_frames, np.sqrt(WITHIN_SHOT), rng)}}
    if len(speech_shots):
        elsewhere = near(shot_centres(rng.choice(speech_shots, N_QUERIES // 3), dim),
                         QUERY_TO_SHOT, rng)
        sets["frame"]["text, shot not in frames"] = elsewhere
        sets["speech"] = {"text": elsewhere}
    out = {}
    for modality, named in sets.items():
        index = store.index(modality)
        truth = exact_truth(store, modality, np.concatenate(list(named.values())), 100)
        start = 0
        for name, queries in named.items():
            mine, start = truth[start:start + len(queries)], start + len(queries)
            label = f"{modality} index, {name}"
            out[f"{label} recall@10"] = recall(index.search(queries, 10)[1], mine[:, :10])
            out[f"{label} recall@100"] = recall(index.search(queries, 100)[1], mine)
    return out


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def image_query_ms(port: int) -> float:
    """One image search through the API (a PNG upload), in milliseconds."""
    png = io.BytesIO()
    Image.fromarray(np.full((224, 224, 3), 90, np.uint8)).save(png, format="PNG")
    boundary = "vidseek-bench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"q.png\"\r\nContent-Type: image/png\r\n\r\n").encode()
    body += png.getvalue() + f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    conn.request("POST", "/api/search/image", body,
                 {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    return (time.perf_counter() - started) * 1000


def text_encoder_ms(settings: Settings, runs: int = 50) -> tuple[float, str]:
    """Median milliseconds of one query through the text encoder alone, in this process, on
    one thread as the server runs it: the model's share of the API's latency under whatever
    load the machine carries during this run; and the runtime that ran it."""
    from vidseek.models.encoders import load_image_text_encoder

    encoder = load_image_text_encoder(replace(settings, threads=1))
    times = []
    for i in range(runs):
        started = time.perf_counter()
        encoder.embed_texts([f"a dog running on the beach {i}"])
        times.append(time.perf_counter() - started)
    return float(np.median(times[5:]) * 1000), encoder.text_runtime


def serving_figures(data_dir: Path, model: str, requests: int) -> dict[str, float]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        started = time.monotonic()
        server = start_server(data_dir, port, model, log)
        try:
            wait_until_up(server, port, log, timeout=300)
            ready = time.monotonic() - started
            first = run_load(port, search_path(10), LoadOptions(1, 1, 60), seed=77)
            one = run_load(port, search_path(10), LoadOptions(1, requests // 2, 120), seed=1)
            eight = run_load(port, search_path(10), LoadOptions(8, requests, 120), seed=2)
            rss = rss_mb(server.pid)
            image_ms = image_query_ms(port)
            rss_after_image = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"ready s": ready, "first query ms": first.latencies_ms[0],
            "1 client p50 ms": one.percentile(50), "1 client p99 ms": one.percentile(99),
            "8 clients p50 ms": eight.percentile(50), "8 clients p99 ms": eight.percentile(99),
            "8 clients req/s": eight.per_second, "errors": one.errors + eight.errors,
            "serving RSS MB": rss, "first image query ms (loads the image tower)": image_ms,
            "RSS after it MB": rss_after_image, "load average (1 min) after": os.getloadavg()[0]}


def add_hour(store: Store, settings: Settings, first_shot: int) -> dict[str, float]:
    """Add a 1-hour video (3,600 frames) as `vidseek index` would after embedding it: time the
    commit with its index update, the save, a reader's catching up, and one merge."""
    from bench.synthetic import video_frames

    reader = Store(settings.sql_url, settings.index_dir, settings.index_budget)
    reader.index("frame")
    vectors = video_frames(HOUR_FRAMES, store.dim, first_shot=first_shot)
    segments = [Segment("frame", float(t), t + 1.0, vectors[t]) for t in range(HOUR_FRAMES)]
    info = MediaInfo(float(HOUR_FRAMES), 30.0, 1280, 720, False)
    path = f"/synthetic/hour-{time.time_ns()}.mp4"
    t0 = time.perf_counter()
    video_id = store.save_video(path, Fingerprint(1, 1, f"{time.time_ns():040x}"), info, segments)
    t1 = time.perf_counter()
    store.save_indexes()
    t2 = time.perf_counter()
    seen = reader.index("frame")
    t3 = time.perf_counter()
    _, found = seen.search(vectors[:1], 1)
    assert reader.places("frame").find(found[0]).video_ids.tolist() == [video_id]
    index = store.index("frame")
    delta = len(index._delta_places)
    t4 = time.perf_counter()
    index.merge(settings.index_budget, store.segments.vectors_and_places)
    t5 = time.perf_counter()
    reader.engine.dispose()
    return {"add (SQL commit + index) s": t1 - t0, "save s": t2 - t1,
            "reader sees it after s": t3 - t2, "delta at merge": delta, "merge s": t5 - t4}


def report(figures: dict[str, object]) -> None:
    for name, value in figures.items():
        print(f"  {name:<46} {value:.3f}" if isinstance(value, float) else f"  {name:<46} {value}",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 2_000_000])
    p.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "vidseek-scale")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--requests", type=int, default=1000, help="requests of the 8-client run")
    p.add_argument("--speech-share", type=float, default=0.1)
    args = p.parse_args(argv)
    # Two threads on this shared 2-core machine mostly wait for each other (training measured
    # 4x slower than with one); the serving process runs FAISS on one thread anyway.
    faiss.omp_set_num_threads(1)
    # Where an index build spends its time (search/storage/vectors.py and shots.py log each part).
    logging.basicConfig(level=logging.INFO, format="  %(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    print(f"vidseek scale bench: {os.cpu_count()} CPU(s), query model {args.model}; "
          "video-like synthetic segments (see docstring)")
    for size in args.sizes:
        data_dir = args.root / str(size)
        settings = library_settings(data_dir, args.model)
        # Resumes a fill that was stopped; a finished one is only counted.
        build_synthetic_library(data_dir, size, PER_VIDEO, args.speech_share, args.model,
                                progress=True)
        started = time.monotonic()
        store = Store(settings.sql_url, settings.index_dir, settings.index_budget)
        for modality in ("frame", "speech"):
            store.index(modality)  # built from SQL on the first run
        print(f"  indexes opened (built if new) in {time.monotonic() - started:.0f} s, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        for modality in ("frame", "speech"):
            if len(store.index(modality)._delta_places):
                store.index(modality).merge(settings.index_budget, store.segments.vectors_and_places)
        index = store.index("frame")
        n_frames = len(index)
        figures: dict[str, object] = {
            "load average (1 min) at start": os.getloadavg()[0],
            "frames": n_frames, "index": store.describe_index("frame"),
            "speech index": store.describe_index("speech"),
            "build s": index.tuning.train_seconds,
            "base file B/vector": round(
                sum(f.stat().st_size for f in settings.index_dir.glob(
                    f"frame.base-{index.epoch}.faiss")) / max(n_frames, 1)),
        }
        print(f"\n== {size} segments ==")
        report(figures)
        figures = recall_figures(store, -(-size // FRAMES_PER_SHOT), args.speech_share)
        report(figures)
        figures = serving_figures(data_dir, args.model, args.requests)
        figures["text encoder alone p50 ms (same run)"], figures["text encoder runtime"] = \
            text_encoder_ms(settings)
        report(figures)
        figures = {}
        # Shots no other run added: each run's hour of video is new content.
        figures.update(add_hour(store, settings, first_shot=time.time_ns() // 10**9))
        store.engine.dispose()
        report(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
