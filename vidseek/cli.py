"""The `vidseek` command: parses arguments and delegates to the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vidseek.settings import Settings


def _fmt_time(t: float) -> str:
    m, s = divmod(t, 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidseek", description=__doc__ and "Semantic video search.")
    p.add_argument("--config", help="TOML settings file (default: $VIDSEEK_CONFIG)")
    p.add_argument("--data-dir", type=Path, help="where the library lives (default: $VIDSEEK_DATA_DIR)")
    p.add_argument("--model", dest="clip_model", help="image+text encoder spec, e.g. "
                   "open_clip:ViT-B-32/laion2b_s34b_b79k")
    sub = p.add_subparsers(dest="command", required=True)

    ix = sub.add_parser("index", help="index every video under a folder (resumable)")
    ix.add_argument("path", type=Path)
    ix.add_argument("--retry-failed", action="store_true", help="try failed files again")
    ix.add_argument("--no-transcribe", dest="transcribe", action="store_false", default=None)

    se = sub.add_parser("search", help="find moments by text, image or example clip")
    se.add_argument("query", nargs="?", default="")
    se.add_argument("--image", type=Path, help="find moments that look like this image")
    se.add_argument("-k", type=int, help="moments to return")
    se.add_argument("--min-score", type=float)
    se.add_argument("--modality", help="comma-separated: frame,speech,audio")
    se.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser("status", help="videos indexed, failed (with reason) and pending")
    mo = sub.add_parser("models", help="which models are installed, where, and what is missing")
    mo.add_argument("--download", action="store_true", help="fetch missing weights now")
    mo.add_argument("--settings", action="store_true", help="also list every setting")
    re = sub.add_parser("reindex", help="rebuild the FAISS indexes from the stored vectors")
    re.add_argument("--reembed", action="store_true",
                    help="re-decode and re-embed every video with the configured models")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from vidseek.indexer.decode import DecodeError
    from vidseek.indexer.encoders import ModelUnavailable
    from vidseek.search.engine import QueryError
    from vidseek.search.store import ModelMismatch

    try:
        settings = Settings.load(args.config, data_dir=args.data_dir, clip_model=args.clip_model,
                                 transcribe=getattr(args, "transcribe", None))
        return COMMANDS[args.command](settings, args)
    except (ModelUnavailable, ModelMismatch, QueryError, DecodeError, FileNotFoundError,
            ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: everything indexed so far is saved; run the same command to resume",
              file=sys.stderr)
        return 130


def _library(settings: Settings):
    from vidseek.library import Library

    return Library(settings)


def cmd_index(settings: Settings, args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    lib = _library(settings)
    columns = (TextColumn("[bold]indexing"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn(), TextColumn("{task.description}"))
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("", total=None)

        def on_progress(p):
            bar.update(task, total=p.total, completed=p.done,
                       description=f"{p.outcome}: {Path(p.path).name}")

        try:
            report = lib.indexer.index(args.path, on_progress, retry_failed=args.retry_failed)
        finally:
            lib.close()
    speed = report.video_seconds / report.wall_seconds if report.wall_seconds else 0
    print(f"indexed {len(report.indexed)} video(s) ({report.video_seconds:.0f} s of video, "
          f"{speed:.1f}x real time), {report.unchanged} unchanged, {len(report.failed)} failed, "
          f"{report.removed} removed")
    for path, reason in report.failed:
        print(f"  failed: {path}: {reason}")
    return 0


def cmd_search(settings: Settings, args) -> int:
    lib = _library(settings)
    modalities = tuple(m.strip() for m in args.modality.split(",")) if args.modality else None
    options = lib.search_options(k=args.k, min_score=args.min_score, modalities=modalities)
    if args.image:
        from vidseek.indexer.decode import read_image

        moments = lib.engine.search_image(read_image(args.image.read_bytes()), options)
    else:
        moments = lib.engine.search_text(args.query, options)
    rows = []
    for rank, m in enumerate(moments, start=1):
        video = lib.store.video(m.video_id)
        rows.append({"rank": rank, "path": video.path, "t0": round(m.t0, 2), "t1": round(m.t1, 2),
                     "score": round(m.score, 4), "matched_by": list(m.matched_by),
                     "text": next((h.text for h in m.hits if h.text), None)})
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("no matching moments")
    for r in rows if not args.json else ():
        print(f"{r['rank']:>3}. {r['path']}  {_fmt_time(r['t0'])}–{_fmt_time(r['t1'])}  "
              f"score {r['score']:.3f}  [{', '.join(r['matched_by'])}]")
        if r["text"]:
            print(f"       “{r['text']}”")
    return 0


def cmd_status(settings: Settings, args) -> int:
    lib = _library(settings)
    counts = lib.store.status_counts()
    print(f"library: {settings.data_dir}")
    print(f"videos: {counts.get('indexed', 0)} indexed, {counts.get('failed', 0)} failed, "
          f"{counts.get('pending', 0)} pending")
    segs = lib.store.modality_counts()
    print("segments: " + (", ".join(f"{n} {m}" for m, n in sorted(segs.items())) or "none"))
    for key, value in sorted(lib.store.state().items()):
        print(f"{key}: {value}")
    for v in lib.store.videos("failed"):
        print(f"  failed: {v.path}: {v.error}")
    for v in lib.store.videos("pending"):
        print(f"  pending: {v.path}")
    return 0


def cmd_models(settings: Settings, args) -> int:
    from vidseek.indexer.models_report import model_report

    ok = True
    for row in model_report(settings, download=args.download):
        ok &= row.installed
        mark = "ok     " if row.installed else "MISSING"
        print(f"[{mark}] {row.role:<12} {row.spec}")
        print(f"          {row.detail}")
    if args.settings:
        print("\nsettings (env VIDSEEK_<NAME>, or NAME = value in a TOML file):")
        for name, default, help_text in Settings.table():
            print(f"  {name:<20} = {getattr(settings, name)!s:<40} {help_text}")
    return 0 if ok else 1


def cmd_reindex(settings: Settings, args) -> int:
    lib = _library(settings)
    try:
        if args.reembed:
            paths = lib.store.clear_segments()
            report = lib.indexer.index_files([Path(p) for p in paths if Path(p).exists()])
            print(f"re-embedded {len(report.indexed)} video(s) with {settings.clip_model}, "
                  f"{len(report.failed)} failed")
        else:
            counts = lib.store.rebuild_indexes()
            print("rebuilt: " + (", ".join(f"{m} {n} vectors" for m, n in counts.items()) or
                                 "the library is empty"))
    finally:
        lib.close()
    return 0


COMMANDS = {
    "index": cmd_index,
    "search": cmd_search,
    "status": cmd_status,
    "models": cmd_models,
    "reindex": cmd_reindex,
}
