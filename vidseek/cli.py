"""The `vidseek` command: parses arguments and delegates to the library."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from vidseek.search.records import MODALITIES
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
    ix.add_argument("--ray", dest="ray_address", metavar="ADDRESS",
                    help="analyse the files on a Ray cluster: auto, HOST:PORT or "
                         "ray://HOST:10001 (default: setting ray_address; empty: this machine)")

    se = sub.add_parser("search", help="find moments by text, image or example clip")
    se.add_argument("query", nargs="?", default="")
    se.add_argument("--image", type=Path, help="find moments that look like this image")
    se.add_argument("--like", type=Path, metavar="CLIP",
                    help="find moments in other videos that match this clip, aligned in time")
    se.add_argument("-k", type=int, help="moments to return")
    se.add_argument("--min-score", type=float)
    se.add_argument("--modality", help="comma-separated: " + ",".join(MODALITIES))
    se.add_argument("--json", action="store_true", help="print JSON")
    se.add_argument("--label", help="only moments that carry this label (see `vidseek labels`)")

    sv = sub.add_parser("serve", help="serve the web UI and the JSON API")
    sv.add_argument("--host", help="address to listen on (default: setting host, 127.0.0.1)")
    sv.add_argument("--port", type=int, help="port to listen on (default: setting port, 8765)")

    sub.add_parser("status", help="videos indexed, failed (with reason) and pending")
    mo = sub.add_parser("models", help="which models are installed, where, and what is missing")
    mo.add_argument("--download", action="store_true", help="fetch missing weights now")
    mo.add_argument("--settings", action="store_true", help="also list every setting")
    ta = sub.add_parser("train-audio", help="learn (again) how the library's sounds map into "
                        "the search space, from the frames they co-occur with")
    ta.add_argument("--epochs", type=int, help="passes over the audio windows (default 60)")
    ta.add_argument("--seed", type=int, help="random seed; the same seed gives the same model")
    re = sub.add_parser("reindex", help="rebuild the FAISS indexes from the stored vectors")
    re.add_argument("--reembed", action="store_true",
                    help="re-decode and re-embed every video with the configured models")
    tr = sub.add_parser("transcript", help="print what is said in a video, with timestamps")
    tr.add_argument("video", help="the video's path or id (ids are in `vidseek search --json`)")
    tr.add_argument("--format", choices=("text", "srt", "vtt"), default="text",
                    help="text (default), or subtitles: srt (SubRip) or vtt (WebVTT)")
    la = sub.add_parser("labels", help="labels of moments and videos: list (default), add, "
                        "remove, mark examples to learn one, update")
    la_sub = la.add_subparsers(dest="labels_command")
    ll = la_sub.add_parser("list", help="every label with its moments, videos and examples")
    ll.add_argument("--json", action="store_true", help="print JSON")
    la.set_defaults(json=False)
    lad = la_sub.add_parser("add", help="add your own labels (zero-shot: described by words)")
    lad.add_argument("names", nargs="*", help='e.g. "grandma\'s garden"')
    lad.add_argument("--file", type=Path, help='a TOML list: labels = ["beach hut", "our dog"]')
    lrm = la_sub.add_parser("remove", help="drop a label and every moment it was on")
    lrm.add_argument("name")
    lex = la_sub.add_parser("example", help="mark seconds T0..T1 of a video as an example of a "
                            "label; the label is learned (again) from all its examples")
    lex.add_argument("name")
    lex.add_argument("video", help="the video's path or id")
    lex.add_argument("t0", type=float)
    lex.add_argument("t1", type=float)
    la_sub.add_parser("update", help="label what is new or changed, from the stored vectors")
    ch = sub.add_parser("chapters", help="a video's chapters, with their top label")
    ch.add_argument("video", help="the video's path or id")
    ch.add_argument("--format", choices=("text", "vtt"), default="text",
                    help="text (default) or vtt (WebVTT chapters, for a <track kind=chapters>)")
    return p


def _stop(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # `kill` (and a service manager stopping us) ends a run as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, _stop)
    from vidseek.errors import (
        ClusterUnavailable,
        DecodeError,
        LabelError,
        ModelMismatch,
        ModelUnavailable,
        QueryError,
    )

    try:
        settings = Settings.load(args.config, data_dir=args.data_dir, clip_model=args.clip_model,
                                 transcribe=getattr(args, "transcribe", None),
                                 ray_address=getattr(args, "ray_address", None),
                                 host=getattr(args, "host", None), port=getattr(args, "port", None))
        return COMMANDS[args.command](settings, args)
    except (ModelUnavailable, ModelMismatch, QueryError, DecodeError, FileNotFoundError,
            LabelError, ValueError, ClusterUnavailable) as e:
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
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

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
        except BaseException:
            lib.close()
            raise
    speed = report.video_seconds / report.wall_seconds if report.wall_seconds else 0
    print(f"indexed {len(report.indexed)} video(s) ({report.video_seconds:.0f} s of video, "
          f"{speed:.1f}x real time), {report.unchanged} unchanged, {len(report.failed)} failed, "
          f"{report.removed} removed")
    for path, reason in report.failed:
        print(f"  failed: {path}: {reason}")
    try:
        _train_audio_if_due(lib)
        if settings.label_after_index:
            _update_labels(lib)
    finally:
        lib.close()
    return 0


def _train_audio_if_due(lib) -> None:
    """Train the first audio projection once the library holds enough sound to learn from."""
    from vidseek.indexer.audio_projection import TrainingOptions, training_due

    settings = lib.settings
    if settings.index_audio and training_due(lib.store, settings.audio_min_pairs):
        print(f"the library now holds {lib.store.audio_feature_count()} audio windows: "
              "learning how its sounds map into the search space")
        try:
            _train_audio(lib, TrainingOptions())
        except ValueError as e:  # e.g. all that sound is in one video: indexing still succeeded
            print(f"audio projection not trained yet: {e}")


def _train_audio(lib, options) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from vidseek.indexer.audio_projection import train_audio_projection

    columns = (TextColumn("[bold]training audio projection"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.3f}"))
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("", total=options.epochs, loss=float("nan"))

        def on_progress(p):
            bar.update(task, completed=p.epoch, loss=p.loss)

        record = train_audio_projection(lib.store, lib.settings.model_dir, options, on_progress)
    print(f"audio projection {record.describe()}")
    print(f"  {lib.store.segment_count('audio')} audio segments written; "
          f"saved to {lib.settings.model_dir / record.file}")


def cmd_search(settings: Settings, args) -> int:
    from rich.console import Console
    from rich.text import Text

    from vidseek.search.highlight import highlight
    from vidseek.search.ranking import group_by_video

    console = Console(highlight=False, soft_wrap=True)
    lib = _library(settings)
    modalities = tuple(m.strip() for m in args.modality.split(",")) if args.modality else None
    options = lib.search_options(k=args.k, min_score=args.min_score, modalities=modalities)
    if args.like:
        if args.label:
            spans = lib.labels.spans(args.label)
            moments = spans.keep([a.moment for a in lib.similar_to_clip(args.like, options)])
        else:
            moments = [a.moment for a in lib.similar_to_clip(args.like, options)]
    elif args.image:
        from vidseek.indexer.decode import read_image

        moments = lib.search_image(read_image(args.image.read_bytes()), options, args.label)
    else:
        moments = lib.search_text(args.query, options, args.label)
    rows = []
    for rank, m in enumerate(moments, start=1):
        similarities = [h.similarity for h in m.hits if h.similarity is not None]
        worded = _worded_hit(m)
        rows.append({"rank": rank, "video_id": m.video_id,
                     "path": lib.store.video_path(m.video_id),
                     "t0": round(m.t0, 2), "t1": round(m.t1, 2), "score": round(m.score, 4),
                     "similarity": round(max(similarities), 4) if similarities else None,
                     "matched_by": list(m.matched_by), "text": worded and worded.text,
                     "text_modality": worded and worded.modality})
        if rows[-1]["text"]:
            rows[-1]["highlight"] = highlight(rows[-1]["text"], args.query)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no matching moments")
    # Grouped per video, videos in the order of their best moment.
    for number, (video_id, _) in enumerate(group_by_video(moments), start=1):
        print(f"{number:>3}. {lib.store.video_path(video_id)}")
        for r in (r for r in rows if r["video_id"] == video_id):
            similarity = f"  similarity {r['similarity']:.3f}" if r["similarity"] is not None else ""
            print(f"       {_fmt_time(r['t0'])}–{_fmt_time(r['t1'])}  #{r['rank']}  "
                  f"score {r['score']:.4f}{similarity}  [{', '.join(r['matched_by'])}]")
            if r["text"]:
                quote = Text(f"         {r['text_modality']}: “")
                for fragment, is_match in r["highlight"]:
                    quote.append(fragment, style="bold yellow" if is_match else None)
                console.print(quote.append("”"))
    return 0


def _worded_hit(moment):
    """The hit whose text to show for a moment (said, on screen or subtitled): the one whose
    words matched, else any with text."""
    keyword = [h for h in moment.hits if h.text and "keyword" in h.matched_by]
    return next(iter(keyword + [h for h in moment.hits if h.text]), None)


def cmd_status(settings: Settings, args) -> int:
    from vidseek.indexer.audio_projection import STATE_KEY as AUDIO_PROJECTION_KEY

    lib = _library(settings)
    counts = lib.store.status_counts()
    print(f"library: {settings.data_dir}")
    print(f"videos: {counts.get('indexed', 0)} indexed, {counts.get('failed', 0)} failed, "
          f"{counts.get('pending', 0)} pending")
    segs = lib.store.modality_counts()
    print("segments: " + (", ".join(f"{n} {m}" for m, n in sorted(segs.items())) or "none"))
    state = lib.store.state()
    for key, value in sorted(state.items()):
        if key != AUDIO_PROJECTION_KEY:  # a JSON record: summarised on its own line below
            print(f"{key}: {value}")
    print(f"audio projection: {_audio_projection_status(lib, state)}")
    print(f"labels: {_labels_status(lib)}")
    for modality in sorted(segs):
        print(f"{modality} index: {lib.store.describe_index(modality) or 'not saved yet'}")
    for v in lib.store.videos("failed"):
        print(f"  failed: {v.path}: {v.error}")
    for v in lib.store.videos("pending"):
        print(f"  pending: {v.path}")
    for v in lib.store.warned_videos():
        print(f"  warning: {v.path}: {v.warning}")
    return 0


def _audio_projection_status(lib, state: dict[str, str]) -> str:
    from vidseek.indexer.audio_projection import current_record

    record = current_record(state)
    if record:
        return record.describe()
    if not lib.settings.index_audio:
        return "off (index_audio=false)"
    return (f"not trained yet: {lib.store.audio_feature_count()} audio windows stored, "
            f"`vidseek index` trains it at {lib.settings.audio_min_pairs}; "
            "`vidseek train-audio` trains it now")


def _labels_status(lib) -> str:
    from vidseek.errors import ModelMismatch

    try:  # labels are the configured model's: another one has none to show, status goes on
        summaries = lib.labels.summaries()
    except ModelMismatch as e:
        return f"not shown ({e})"
    used = [s for s in summaries if s.counts.moments]
    learned = sum(s.kind == "learned" for s in summaries)
    waiting = len(lib.labels.db.stale_videos())
    return (f"{len(summaries)} ({len(used)} found in the library, {learned} learned from "
            f"examples)" + (f"; {waiting} video(s) waiting for `vidseek labels update`"
                            if waiting else ""))


def cmd_train_audio(settings: Settings, args) -> int:
    from vidseek.indexer.audio_projection import TrainingOptions

    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    lib = _library(settings)
    try:
        _train_audio(lib, TrainingOptions(**overrides))
    finally:
        lib.close()
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
        for name, _default, help_text in Settings.table():
            print(f"  {name:<20} = {getattr(settings, name)!s:<40} {help_text}")
    return 0 if ok else 1


def cmd_reindex(settings: Settings, args) -> int:
    from vidseek.indexer.discover import is_gone

    lib = _library(settings)
    try:
        if args.reembed:
            paths = lib.store.clear_segments()
            report = lib.indexer.index_files([Path(p) for p in paths if not is_gone(p)])
            print(f"re-embedded {len(report.indexed)} video(s) with {settings.clip_model}, "
                  f"{len(report.failed)} failed")
            _train_audio_if_due(lib)
            if settings.label_after_index:
                _update_labels(lib)
        else:
            counts = lib.store.rebuild_indexes()
            print("rebuilt: " + (", ".join(f"{m} {n} vectors" for m, n in counts.items()) or
                                 "the library is empty"))
    finally:
        lib.close()
    return 0


def cmd_transcript(settings: Settings, args) -> int:
    from vidseek.search.subtitles import FORMATS, Cue

    lib = _library(settings)
    try:
        video = _find_video(lib.store, args.video)
        cues = [Cue(s.t0, s.t1, s.text)
                for s in lib.store.video_segments(video.id, "speech") if s.text]
    finally:
        lib.close()
    if not cues:
        why = (f"it is {video.status}" + (f": {video.error}" if video.error else "")
               if video.status != "indexed" else
               "it has no audio track" if video.has_audio is False else
               "no speech was recognised in it, or it was indexed without transcription "
               "(to transcribe it now: `vidseek reindex --reembed`)")
        print(f"no transcript for {video.path}: {why}", file=sys.stderr)
        return 1
    print(FORMATS[args.format](cues), end="")
    return 0


def _find_video(store, ref: str):
    """A library video by id or by path (relative paths are taken from the current folder)."""
    video = store.video(int(ref)) if ref.isdigit() else None
    video = video or store.video_by_path(str(Path(ref).expanduser().resolve()))
    if video is None:
        raise FileNotFoundError(f"{ref} is not in the library; `vidseek status` lists what is, "
                                "`vidseek index FOLDER` adds videos")
    return video


def cmd_serve(settings: Settings, args) -> int:
    from waitress import serve

    from vidseek.web.app import create_app
    from vidseek.web.context import warm_up
    from vidseek.web.guard import is_loopback

    app = create_app(settings)
    warm_up(app)  # /api/health says 503 "starting" until models and indexes are loaded
    print(f"vidseek: serving {settings.data_dir} at http://{settings.host}:{settings.port}/ "
          "(Ctrl-C stops)", flush=True)
    if not is_loopback(settings.host) and not settings.access_token:
        print(f"vidseek: warning: {settings.host} is reachable from other machines and no "
              "access token is set; set VIDSEEK_ACCESS_TOKEN (and VIDSEEK_ALLOWED_HOSTS to the "
              "name clients use)", file=sys.stderr, flush=True)
    serve(app, host=settings.host, port=settings.port, threads=8, ident="vidseek")
    return 0


def _update_labels(lib) -> None:
    """Label what is new or changed, with a progress bar; one line says what was done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn("[bold]labeling"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("", total=None)
        report = lib.labels.update(lambda done, total: bar.update(task, completed=done,
                                                                  total=total))
    if report.videos or report.labels:
        print(f"labels: {report.videos} video(s) labelled and chaptered, {report.labels} "
              f"label(s) applied to the rest; {report.moments} labelled moments written")


def cmd_labels(settings: Settings, args) -> int:
    from vidseek.search.labeling import names_from_toml

    lib = _library(settings)
    try:
        command = args.labels_command or "list"
        if command == "add":
            names = list(args.names) + (names_from_toml(args.file) if args.file else [])
            if not names:
                raise ValueError("name at least one label, or give --file labels.toml")
            added = lib.labels.add(names)
            print(f"added {len(added)} label(s)" + (f": {', '.join(added)}" if added else
                                                    " (all were there already)"))
        elif command == "remove":
            lib.labels.remove(args.name)
            print(f"removed {args.name!r}")
        elif command == "example":
            video = _find_video(lib.store, args.video)
            report = lib.labels.add_example(args.name, video.id, args.t0, args.t1)
            print(f"{args.name!r}: {report.describe()}")
        if command != "list":
            _update_labels(lib)
            return 0
        summaries = lib.labels.summaries()
        if args.json:
            print(json.dumps([s.payload() for s in summaries], indent=2))
            return 0
        used = sorted((s for s in summaries if s.counts.moments or s.kind != "vocabulary"),
                      key=lambda s: (-s.counts.videos, -s.counts.moments, s.name))
        for s in used:
            print(f"{s.name:<32} {s.counts.videos:>6} video(s) {s.counts.moments:>8} moment(s)"
                  f"  [{s.kind}]")
            if s.report:
                print(f"{'':<34}{s.report.describe()}")
        unused = len(summaries) - len(used)
        print(f"{len(used)} label(s) in use" + (f"; {unused} more in the vocabulary found on "
                                                "nothing yet (--json lists all)"
                                                if unused else ""))
    finally:
        lib.close()
    return 0


def cmd_chapters(settings: Settings, args) -> int:
    lib = _library(settings)
    try:
        video = _find_video(lib.store, args.video)
        lib.labels.update()
        chapters = lib.labels.chapters(video.id)
        if not chapters:
            print(f"no chapters for {video.path}: it is {video.status}", file=sys.stderr)
            return 1
        if args.format == "vtt":
            print(lib.labels.chapters_vtt(video.id), end="")
        else:
            for n, c in enumerate(chapters, start=1):
                print(f"{n:>3}. {_fmt_time(c.t0)}–{_fmt_time(c.t1)}  {c.label or ''}")
    finally:
        lib.close()
    return 0


COMMANDS = {
    "index": cmd_index,
    "search": cmd_search,
    "serve": cmd_serve,
    "status": cmd_status,
    "models": cmd_models,
    "reindex": cmd_reindex,
    "train-audio": cmd_train_audio,
    "transcript": cmd_transcript,
    "labels": cmd_labels,
    "chapters": cmd_chapters,
}
