"""The `vidseek` command: parses arguments and delegates to the library."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from vidseek import __version__
from vidseek.cli_people import add_people_parser, cmd_people
from vidseek.core.errors import (
    ClusterUnavailable,
    DecodeError,
    ExportRefused,
    LabelError,
    ModelMismatch,
    ModelUnavailable,
    QueryError,
    WriterBusy,
)
from vidseek.core.records import MODALITIES
from vidseek.core.scratch import keep_temporary_files_here
from vidseek.core.settings import Settings


def _fmt_time(t: float) -> str:
    m, s = divmod(t, 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vidseek", description=__doc__ and "Semantic video search.")
    p.add_argument("--version", action="version", version=f"vidseek {__version__}")
    p.add_argument("--config", help="TOML settings file (default: $VIDSEEK_CONFIG)")
    p.add_argument("--data-dir", type=Path, help="where the library lives (default: $VIDSEEK_DATA_DIR)")
    p.add_argument("--model", dest="clip_model", help="image+text encoder spec, e.g. "
                   "open_clip:ViT-B-32/laion2b_s34b_b79k")
    sub = p.add_subparsers(dest="command", required=True)

    ix = sub.add_parser("index", help="index every video under a folder, and remember the "
                        "folder; with no folder, bring every remembered one up to date "
                        "(resumable)")
    ix.add_argument("path", type=Path, nargs="?")
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
    se.add_argument("-k", type=int, help="moments to return (per page)")
    se.add_argument("--page", type=_positive_int, default=1,
                    help="1-based page of k moments, as the API's page= (text and image "
                         "searches; pages past the ranking's depth are empty)")
    se.add_argument("--min-score", type=float)
    se.add_argument("--modality", help="comma-separated: " + ",".join(MODALITIES))
    se.add_argument("--video", help="search inside this video only (its path or id)")
    se.add_argument("--json", action="store_true", help="print JSON")
    se.add_argument("--label", help="only moments that carry this label (see `vidseek labels`)")
    se.add_argument("--person", help="moments where this person (name or id, see `vidseek "
                    "people`) is on screen: alone, or with a text query, --image or --face")
    se.add_argument("--face", type=Path, metavar="PHOTO",
                    help="moments where the person whose face is largest in this photo is")

    sv = sub.add_parser("serve", help="serve the web UI and the JSON API")
    sv.add_argument("--host", help="address to listen on (default: setting host, 127.0.0.1)")
    sv.add_argument("--port", type=int, help="port to listen on (default: setting port, 8765)")

    st = sub.add_parser("status", help="videos indexed, failed (with reason) and pending")
    st.add_argument("--json", action="store_true", help="print the status as JSON")
    st.add_argument("--failed", action="store_true",
                    help="only the files that failed, with their reasons")
    fo = sub.add_parser("folders", help="the folders the library remembers: list (default), "
                        "add, remove")
    fo_sub = fo.add_subparsers(dest="folders_command")
    fo_sub.add_parser("list", help="every remembered folder, and the paths removed from them")
    fad = fo_sub.add_parser("add", help="remember a folder (`vidseek index` indexes it)")
    fad.add_argument("path", type=Path)
    frm = fo_sub.add_parser("remove", help="forget a folder and its videos (the files stay)")
    frm.add_argument("path", type=Path)
    rm = sub.add_parser("remove", help="forget a video, or every video under a folder: "
                        "segments, vectors, thumbnails, labels, chapters (the files stay; "
                        "scans leave it out until `vidseek index PATH`)")
    rm.add_argument("path", type=Path)
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
    la.add_argument("--json", action="store_true", help="list every label as JSON")
    ll = la_sub.add_parser("list", help="every label with its moments, videos and examples")
    # SUPPRESS: `labels --json list` keeps the --json given before the verb.
    ll.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                    help="print JSON")
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
    cl = sub.add_parser("clip", help="cut seconds T0..T1 of a video into an MP4 of its own, what "
                        "is said in them as its subtitles")
    cl.add_argument("video", help="the video's path or id")
    cl.add_argument("t0", type=float, help="start, seconds")
    cl.add_argument("t1", type=float, help="end, seconds")
    cl.add_argument("-o", "--output", type=Path,
                    help="the MP4 to write (default: NAME_T0-T1.mp4 in this folder)")
    cl.add_argument("--reencode", action="store_true",
                    help="encode the span again instead of copying it: for players that start "
                         "a copied clip at the keyframe before T0 (they ignore MP4 edit lists)")
    rl = sub.add_parser("reel", help="the best moments of a search, one after another, in one "
                        "MP4, or as a playlist that plays them from the original files")
    rl.add_argument("query")
    rl.add_argument("-o", "--output", type=Path, help="the MP4 to render")
    rl.add_argument("--playlist", type=Path,
                    help="also (or only) write a playlist: NAME.edl (mpv) or NAME.m3u (VLC, mpv)")
    rl.add_argument("--count", type=_positive_int,
                    help="moments at most, the best ones (default: setting reel_count)")
    rl.add_argument("--pad", type=float,
                    help="seconds added before and after each moment (default: reel_pad)")
    rl.add_argument("--max-length", type=float, dest="max_seconds",
                    help="seconds the reel may last (default: reel_max_seconds)")
    rl.add_argument("--order", choices=("score", "time"), default="score",
                    help="best first (default), or by video and time in it")
    rl.add_argument("--titles", action="store_true", help="a band saying what matched over "
                    "the first seconds of each moment")
    rl.add_argument("--min-score", type=float)
    rl.add_argument("--modality", help="comma-separated: " + ",".join(MODALITIES))
    rl.add_argument("--video", help="moments of this video only (its path or id)")
    rl.add_argument("--label", help="only moments that carry this label")
    su = sub.add_parser("summary", help="a video at a glance: chapters, labels, and the most "
                                        "central things said, read or subtitled in it")
    su.add_argument("video", help="the video's path or id")
    su.add_argument("--passages", type=_positive_int, default=5,
                    help="how many passages to quote (default 5)")
    su.add_argument("--json", action="store_true", help="print it as JSON")
    add_people_parser(sub)
    return p


def _stop(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # `kill` (and a service manager stopping us) ends a run as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, _stop)
    try:
        settings = Settings.load(args.config, data_dir=args.data_dir, clip_model=args.clip_model,
                                 transcribe=getattr(args, "transcribe", None),
                                 ray_address=getattr(args, "ray_address", None),
                                 host=getattr(args, "host", None), port=getattr(args, "port", None))
        if argv is None:  # this process is the command's own, not a caller's (a test's)
            keep_temporary_files_here(settings.data_dir)
        return COMMANDS[args.command](settings, args)
    except (ModelUnavailable, ModelMismatch, QueryError, DecodeError, FileNotFoundError,
            NotADirectoryError, LabelError, ValueError, ClusterUnavailable, WriterBusy,
            ExportRefused) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: everything indexed so far is saved; run the same command to resume",
              file=sys.stderr)
        return 130


def _library(settings: Settings):
    from vidseek.library import Library

    return Library(settings)


def _run_bar():
    """A transient progress display with one task per step of a run: its title, a bar,
    done/total, time left, and a detail (the file, the loss)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]{task.fields[title]}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), TextColumn("{task.description}"), transient=True)


def _watchers(bar):
    """Watchers that show each step of a run as its own task of `bar`, added when it starts."""
    from vidseek.library import Watchers

    tasks: dict[str, int] = {}

    def task(title: str) -> int:
        if title not in tasks:
            tasks[title] = bar.add_task("", total=None, title=title)
        return tasks[title]

    return Watchers(
        files=lambda p: bar.update(task("indexing"), total=p.total, completed=p.done,
                                   description=f"{p.outcome}: {Path(p.path).name}"),
        training=lambda p: bar.update(task("training audio projection"), total=p.epochs,
                                      completed=p.epoch, description=f"loss {p.loss:.3f}"),
        labeling=lambda done, total: bar.update(task("labeling"), total=total, completed=done))


def cmd_index(settings: Settings, args) -> int:
    lib = _library(settings)
    try:
        with _run_bar() as bar:
            if args.path is None:
                outcome = lib.index_folders(_watchers(bar), retry_failed=args.retry_failed)
            else:
                outcome = lib.index(args.path, _watchers(bar), retry_failed=args.retry_failed)
    finally:
        lib.close()
    for warning in outcome.skipped_folders.values():
        print(f"warning: {warning}", file=sys.stderr)
    report = outcome.report
    speed = report.video_seconds / report.wall_seconds if report.wall_seconds else 0
    print(f"indexed {len(report.indexed)} video(s) ({report.video_seconds:.0f} s of video, "
          f"{speed:.1f}x real time), {report.unchanged} unchanged, {len(report.failed)} failed, "
          f"{report.removed} removed")
    for path, reason in report.failed:
        print(f"  failed: {path}: {reason}")
    _print_follow_ups(outcome)
    return 0


def _print_follow_ups(outcome) -> None:
    """What followed an index run: the audio projection's first training, the labels."""
    if outcome.audio and outcome.audio.record:
        print(f"the library now holds {outcome.audio.windows} audio windows: learned how its "
              "sounds map into the search space")
        _print_training(outcome.audio)
    elif outcome.audio:
        print(f"audio projection not trained yet: {outcome.audio.not_trained}")
    if outcome.labels:
        _print_labeling(outcome.labels)


def _print_training(training) -> None:
    print(f"audio projection {training.record.describe()}")
    print(f"  {training.segments} audio segments written; saved to {training.saved_to}")


def _print_labeling(report) -> None:
    """One line that says what a labels update did, if it did anything."""
    if report.videos or report.labels:
        print(f"labels: {report.videos} video(s) labelled and chaptered, {report.labels} "
              f"label(s) applied to the rest; {report.moments} labelled moments written")


def cmd_search(settings: Settings, args) -> int:
    _check_one_query(args)
    lib = _library(settings)
    try:
        moments = _search(lib, settings, args)
    finally:
        lib.close()
    if args.json:
        print(json.dumps(moments, indent=2))
    else:
        _print_moments(moments, first_rank=(args.page - 1) * (args.k or settings.top_k) + 1)
    return 0


def _check_one_query(args) -> None:
    """A search is by one thing: a text query, an image or a clip (the API's three routes)."""
    given = [name for name, value in (("a text query", args.query.strip()),
                                      ("--image", args.image),
                                      ("--like", args.like), ("--face", args.face)) if value]
    if len(given) > 1:
        raise QueryError(f"search by one thing: a text query, --image, --like or --face (got "
                         f"{' and '.join(given)})")
    if args.person and args.like:
        raise QueryError("--person goes alone, or with a text query, --image or --face")
    if args.like and args.page != 1:
        raise QueryError("--page applies to text and image searches; --like returns one list "
                         "(use -k for more)")


def _search(lib, settings: Settings, args) -> list[dict]:
    """The moments of one search, in their JSON shape: one page of a text or image search
    (ranked `page` x `k` deep, as the API does), or the aligned moments of a clip search."""
    from dataclasses import replace

    from vidseek.library import ranking_depth

    modalities = tuple(m.strip() for m in args.modality.split(",")) if args.modality else None
    video_id = lib.find_video(args.video).id if args.video else None
    per_page = args.k or settings.top_k
    options = lib.search_options(k=per_page, min_score=args.min_score, modalities=modalities,
                                 video_id=video_id)
    if args.like:
        return lib.describe_alignments(lib.similar_to_clip(args.like, options, args.label))
    options = replace(options, k=ranking_depth(args.page, per_page))
    if args.face:
        found = lib.search_face(lib.read_query_image(args.face.read_bytes()), options,
                                args.label, args.person)
    elif args.image:
        image = lib.read_query_image(args.image.read_bytes())
        found = lib.search_image(image, options, args.label, args.person)
    elif args.person and not args.query.strip():
        found = lib.search_person(args.person, options, args.label)
    else:
        found = lib.search_text(args.query, options, args.label, args.person)
    start = (args.page - 1) * per_page
    return lib.describe_moments(found[start:start + per_page], args.query)


def _print_moments(moments: list[dict], first_rank: int = 1) -> None:
    """Moments grouped under their video, videos in the order of their best moment, the
    query's words in bold; ranks counted from `first_rank` (a later page's first)."""
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    if not moments:
        print("no matching moments")
    by_video: dict[int, list[tuple[int, dict]]] = {}
    for rank, m in enumerate(moments, start=first_rank):
        by_video.setdefault(m["video_id"], []).append((rank, m))
    for number, ranked in enumerate(by_video.values(), start=1):
        print(f"{number:>3}. {ranked[0][1]['path']}")
        for rank, m in ranked:
            similarity = (f"  similarity {m['similarity']:.3f}" if m["similarity"] is not None
                          else "")
            print(f"       {_fmt_time(m['t0'])}–{_fmt_time(m['t1'])}  #{rank}  "
                  f"score {m['score']:.4f}{similarity}  [{', '.join(m['matched_by'])}]")
            if m["snippet"]:
                snippet = m["snippet"]
                prefix = f"         {snippet['modality']}: “"
                quote = Text(prefix + snippet["text"] + "”")
                for start, end in snippet["highlights"]:
                    quote.stylize("bold yellow", len(prefix) + start, len(prefix) + end)
                console.print(quote)


def cmd_status(settings: Settings, args) -> int:
    from vidseek.library.status import failed_payload, status_payload

    lib = _library(settings)
    try:
        status = lib.status()
    finally:
        lib.close()
    if args.json:
        print(json.dumps(failed_payload(status) if args.failed else status_payload(status),
                         indent=2))
        return 0
    if args.failed:
        for v in status.failed:
            print(f"{v.path}: {v.error}")
        return 0
    counts = status.videos
    print(f"library: {status.data_dir}")
    print("folders: " + (", ".join(status.folders) or "none remembered"))
    print(f"writing now: {status.writer or 'nothing'}")
    print(f"videos: {counts.get('indexed', 0)} indexed, {counts.get('failed', 0)} failed, "
          f"{counts.get('pending', 0)} pending")
    print("segments: " + (", ".join(f"{n} {m}" for m, n in sorted(status.segments.items()))
                          or "none"))
    for key, value in sorted(status.state.items()):
        print(f"{key}: {value}")
    print(f"audio projection: {status.audio_projection}")
    print(f"labels: {status.labels}")
    for modality, index in status.indexes.items():
        print(f"{modality} index: {index or 'not saved yet'}")
    for v in status.failed:
        print(f"  failed: {v.path}: {v.error}")
    for v in status.pending:
        print(f"  pending: {v.path}")
    for v in status.warned:
        print(f"  warning: {v.path}: {v.warning}")
    for v in status.analysing:
        print(f"  analysing: {v.path}: {v.analysis_pending.replace(',', ', ')} still to come "
              "(`vidseek serve` adds them, or `vidseek index`)")
    return 0


def cmd_train_audio(settings: Settings, args) -> int:
    from vidseek.indexer.audio_projection import TrainingOptions

    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    lib = _library(settings)
    try:
        with _run_bar() as bar:
            training = lib.train_audio(TrainingOptions(**overrides), _watchers(bar).training)
    finally:
        lib.close()
    _print_training(training)
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
    lib = _library(settings)
    try:
        if args.reembed:
            with _run_bar() as bar:
                outcome = lib.reembed(_watchers(bar))
            print(f"re-embedded {len(outcome.report.indexed)} video(s) with "
                  f"{settings.clip_model}, {len(outcome.report.failed)} failed")
            _print_follow_ups(outcome)
        else:
            counts = lib.rebuild_indexes()
            print("rebuilt: " + (", ".join(f"{m} {n} vectors" for m, n in counts.items()) or
                                 "the library is empty"))
    finally:
        lib.close()
    return 0


def cmd_transcript(settings: Settings, args) -> int:
    from vidseek.core.subtitles import FORMATS

    lib = _library(settings)
    try:
        video = lib.find_video(args.video)
        cues = lib.transcript(video.id)
    finally:
        lib.close()
    if not cues:
        print(f"no transcript for {video.path}: {lib.why_no_transcript(video)}", file=sys.stderr)
        return 1
    print(FORMATS[args.format](cues), end="")
    return 0


def cmd_serve(settings: Settings, args) -> int:
    from waitress import serve

    from vidseek.web.app import create_app
    from vidseek.web.background import start_background
    from vidseek.web.context import warm_up
    from vidseek.web.guard import is_loopback

    app = create_app(settings)
    warm_up(app)  # /api/health says 503 "starting" until models and indexes are loaded
    # Indexes what changes in the remembered folders (GET /api/jobs), with the threads a
    # `vidseek index` would use, not the one each request gets.
    start_background(app, lambda: _library(settings))
    print(f"vidseek: serving {settings.data_dir} at http://{settings.host}:{settings.port}/ "
          "(Ctrl-C stops)" + ("; watching the remembered folders" if settings.watch else ""),
          flush=True)
    if not is_loopback(settings.host) and not settings.access_token:
        print(f"vidseek: warning: {settings.host} is reachable from other machines and no "
              "access token is set; set VIDSEEK_ACCESS_TOKEN (and VIDSEEK_ALLOWED_HOSTS to the "
              "name clients use)", file=sys.stderr, flush=True)
    serve(app, host=settings.host, port=settings.port, threads=8, ident="vidseek")
    return 0


def _update_labels(lib) -> None:
    """Label what is new or changed, with a progress bar; one line says what was done."""
    with _run_bar() as bar:
        report = lib.update_labels(_watchers(bar).labeling)
    _print_labeling(report)


def cmd_labels(settings: Settings, args) -> int:
    from vidseek.search.labels.labeling import names_from_toml

    lib = _library(settings)
    try:
        command = args.labels_command or "list"
        if command == "add":
            names = list(args.names) + (names_from_toml(args.file) if args.file else [])
            if not names:
                raise ValueError("name at least one label, or give --file labels.toml")
            added = lib.add_labels(names)
            print(f"added {len(added)} label(s)" + (f": {', '.join(added)}" if added else
                                                    " (all were there already)"))
        elif command == "remove":
            lib.remove_label(args.name)
            print(f"removed {args.name!r}")
        elif command == "example":
            video = lib.find_video(args.video)
            report = lib.add_label_example(args.name, video.id, args.t0, args.t1)
            print(f"{args.name!r}: {report.describe()}")
        if command != "list":
            _update_labels(lib)
            return 0
        summaries = lib.label_summaries()
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
        video = lib.find_video(args.video)
        lib.update_labels()
        chapters = lib.chapters(video.id)
        if not chapters:
            print(f"no chapters for {video.path}: it is {video.status}", file=sys.stderr)
            return 1
        if args.format == "vtt":
            print(lib.chapters_vtt(video.id), end="")
        else:
            for n, c in enumerate(chapters, start=1):
                print(f"{n:>3}. {_fmt_time(c.t0)}–{_fmt_time(c.t1)}  {c.label or ''}")
    finally:
        lib.close()
    return 0


def cmd_summary(settings: Settings, args) -> int:
    lib = _library(settings)
    try:
        video = lib.find_video(args.video)
        lib.update_labels()
        summary = lib.summary(video.id, args.passages)
    finally:
        lib.close()
    if args.json:
        print(json.dumps({"video": video.id, "path": video.path, **summary.payload()}, indent=2,
                         ensure_ascii=False))
        return 0
    print(f"{video.path} ({video.status})")
    if summary.labels:
        print("labels: " + ", ".join(name for name, _, _ in summary.labels))
    if summary.people:
        print("people: " + ", ".join(f"{name} ({seconds:.0f} s)"
                                     for _, name, seconds in summary.people))
    for n, c in enumerate(summary.chapters, start=1):
        print(f"{n:>3}. {_fmt_time(c.t0)}–{_fmt_time(c.t1)}  {c.label or ''}")
    for p in summary.passages:
        print(f"  {_fmt_time(p.t0)}  [{p.modality}] {p.text}")
    if not (summary.chapters or summary.passages):
        print(f"nothing to summarise: it is {video.status}", file=sys.stderr)
        return 1
    return 0


def cmd_folders(settings: Settings, args) -> int:
    lib = _library(settings)
    try:
        command = args.folders_command or "list"
        if command == "add":
            folder, new = lib.add_folder(args.path)
            print(f"remembered {folder}" if new else f"{folder} was remembered already")
            if new:
                print("`vidseek index` indexes it")
        elif command == "remove":
            _print_removal(lib.remove_folder(args.path))
        else:
            folders, excluded = lib.folders(), lib.excluded_paths()
            for folder in folders:
                print(folder)
            if not folders:
                print("no folder is remembered: `vidseek index FOLDER` or `vidseek folders add "
                      "FOLDER` adds one")
            if excluded:
                print("removed, left out of scans (`vidseek index PATH` takes one back in):")
            for path in excluded:
                print(f"  {path}")
    finally:
        lib.close()
    return 0


def cmd_remove(settings: Settings, args) -> int:
    lib = _library(settings)
    try:
        _print_removal(lib.remove(args.path))
    finally:
        lib.close()
    return 0


def _print_removal(removal) -> None:
    """What a removal forgot, and where what it forgot may come back from."""
    print((f"forgot folder {removal.folder} and " if removal.folder else "removed ")
          + f"{removal.videos} video(s) from the library (the files stay)")
    if removal.excluded:
        print(f"scans of {', '.join(removal.still_remembered_under)} leave {removal.excluded} "
              f"out from now on; `vidseek index {removal.excluded}` takes it back in")
    elif removal.still_remembered_under:
        print(f"note: {', '.join(removal.still_remembered_under)} is remembered and holds it: "
              "its videos stay")


def cmd_clip(settings: Settings, args) -> int:
    from vidseek.export.clips import clip_file_name

    lib = _library(settings)
    try:
        video = lib.find_video(args.video)
        out = args.output or Path(clip_file_name(video.path, args.t0, args.t1))
        clip = lib.export_clip(video, args.t0, args.t1, out,
                               "reencode" if args.reencode else "copy")
    finally:
        lib.close()
    said = f", {clip.cues} line(s) of subtitles" if clip.cues else ""
    print(f"wrote {clip.path}: {_fmt_time(clip.t0)}–{_fmt_time(clip.t1)} of {video.path} "
          f"({clip.mode}, {clip.size / 1e6:.2f} MB{said})")
    return 0


def cmd_reel(settings: Settings, args) -> int:
    from vidseek.core.files import write_whole
    from vidseek.export.playlists import PLAYLISTS, playlist_format

    if not (args.output or args.playlist):
        raise ValueError("say where the reel goes: -o reel.mp4, --playlist reel.edl (or .m3u), "
                         "or both")
    playlist = PLAYLISTS[playlist_format(args.playlist)][0] if args.playlist else None
    lib = _library(settings)
    try:
        options = lib.reel_options(count=args.count, pad=args.pad, max_seconds=args.max_seconds,
                                   order=args.order, titles=args.titles)
        modalities = tuple(m.strip() for m in args.modality.split(",")) if args.modality else None
        video_id = lib.find_video(args.video).id if args.video else None
        search = lib.search_options(k=options.count, min_score=args.min_score,
                                    modalities=modalities, video_id=video_id)
        moments = lib.describe_moments(lib.search_text(args.query, search, args.label),
                                       args.query)
        parts = lib.plan_reel(moments, options)
        if not parts:
            print("no matching moments: no reel written", file=sys.stderr)
            return 1
        if playlist:
            write_whole(args.playlist, lambda f: f.write(playlist(parts).encode()))
        reel = lib.export_reel(parts, args.output, options.titles) if args.output else None
    finally:
        lib.close()
    for n, p in enumerate(parts, start=1):
        print(f"{n:>3}. {p.source}  {_fmt_time(p.t0)}–{_fmt_time(p.t1)}  {p.title}")
    if playlist:
        print(f"wrote {args.playlist}: a playlist of {len(parts)} moment(s) in the originals")
    if reel:
        print(f"wrote {reel.path}: {len(parts)} moment(s), {_fmt_time(reel.seconds)}, "
              f"{reel.size / 1e6:.2f} MB")
    return 0


COMMANDS = {
    "index": cmd_index,
    "people": cmd_people,
    "search": cmd_search,
    "serve": cmd_serve,
    "status": cmd_status,
    "models": cmd_models,
    "reindex": cmd_reindex,
    "train-audio": cmd_train_audio,
    "transcript": cmd_transcript,
    "labels": cmd_labels,
    "chapters": cmd_chapters,
    "summary": cmd_summary,
    "folders": cmd_folders,
    "remove": cmd_remove,
    "clip": cmd_clip,
    "reel": cmd_reel,
}
