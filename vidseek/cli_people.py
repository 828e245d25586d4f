"""`vidseek people`: the people the library found in its faces, listed, named, merged, split,
hidden and forgotten. The logic is in search/people/; this parses and prints."""

from __future__ import annotations

import argparse
import json

from vidseek.core.settings import Settings


def add_people_parser(sub) -> None:
    """The `people` command and its verbs, on the CLI's subparsers."""
    pe = sub.add_parser("people", help="people found by their faces: list (default), show, "
                        "name, merge, split, hide, unhide, forget")
    pe.add_argument("--json", action="store_true", help="print JSON")
    verbs = pe.add_subparsers(dest="people_command")
    pl = verbs.add_parser("list", help="every person, named first, with time on screen")
    pl.add_argument("--hidden", action="store_true", help="include the hidden ones")
    ps = verbs.add_parser("show", help="a person's face tracks: video, seconds, face id")
    ps.add_argument("person", help="name or id")
    pn = verbs.add_parser("name", help="name (or rename) a person")
    pn.add_argument("person", help="name or id")
    pn.add_argument("name")
    pm = verbs.add_parser("merge", help="make several people one: the others' faces join the "
                          "first, which keeps its name")
    pm.add_argument("person", help="name or id of the one that stays")
    pm.add_argument("others", nargs="+", help="names or ids of those merged into it")
    pp = verbs.add_parser("split", help="split wrong faces off a person into a new person")
    pp.add_argument("person", help="name or id")
    pp.add_argument("faces", nargs="+", type=int, help="face ids (see `vidseek people show`)")
    for verb, text in (("hide", "hide a person from lists and facets"),
                       ("unhide", "show a hidden person again"),
                       ("forget", "remove a person's face vectors and crops for good")):
        verbs.add_parser(verb, help=text).add_argument("person", help="name or id")


def _describe(person) -> str:
    hidden = " (hidden)" if person.hidden else ""
    return (f"{person.id:>4}  {person.label}{hidden}: {person.tracks} face track(s) in "
            f"{person.videos} video(s), {person.seconds:.0f} s on screen")


def cmd_people(settings: Settings, args: argparse.Namespace) -> int:
    from vidseek.library import Library

    verb = args.people_command or "list"
    lib = Library(settings)
    try:
        if verb == "list":
            found = lib.list_people(hidden=getattr(args, "hidden", False))
            if args.json:
                print(json.dumps([p.payload() for p in found], indent=2))
            elif not found:
                print("no people yet: faces are grouped into people as videos are indexed "
                      "(a face seen once waits until it is seen again)")
            else:
                print("\n".join(_describe(person) for person in found))
            return 0
        if verb == "show":
            person, tracks = lib.person(args.person), lib.person_tracks(args.person)
            if args.json:
                print(json.dumps({**person.payload(), "faces": [
                    {"face": t.segment_id, "video_id": t.video_id, "path": lib.video(t.video_id).path,
                     "t0": t.t0, "t1": t.t1, "box": t.box} for t in tracks]}, indent=2))
                return 0
            print(_describe(person))
            for t in tracks:
                print(f"      face {t.segment_id}: {lib.video(t.video_id).path} "
                      f"{t.t0:.1f}-{t.t1:.1f} s")
            return 0
        if verb == "forget":
            removed = lib.forget_person(args.person)
            print(f"forgot {args.person}: {removed} face track(s), their vectors and crops "
                  "removed (indexing a video again finds its faces again)")
            return 0
        person = {
            "name": lambda: lib.name_person(args.person, args.name),
            "merge": lambda: lib.merge_people(args.person, args.others),
            "split": lambda: lib.split_person(args.person, args.faces),
            "hide": lambda: lib.hide_person(args.person, True),
            "unhide": lambda: lib.hide_person(args.person, False),
        }[verb]()
    finally:
        lib.close()
    print(json.dumps(person.payload(), indent=2) if args.json else _describe(person))
    return 0
