"""Search quality against ground truth: a generated library where every answer is known, and
every fusion method (and every signal alone) scored on it in one run.

    python -m bench.quality [--root DIR] [--small] [--rebuild]

The library is made of real media indexed by the real stages: espeak-ng speech heard by the real
Whisper base, text rendered on screen at known seconds and read by the real OCR (rapidocr), subtitles
(sidecar .srt/.vtt, and mov_text/SubRip streams inside the file), sound events (a tone, a chirp,
noise) learned by the audio projection, and pictures the palette test encoder tells apart by
colour (tests/palette_encoder.py). Around them, what breaks fusion in real footage: a caption on
screen for a whole minute (the issue's test pattern), a channel name watermark, a burned-in
timecode, a music bed under speech, a long static slide with speech over it, a near-duplicate
clip, videos that answer nothing.

What the default ranks by (rrf over the hits that stand 3 noise spreads above the median of
their index's sample, `evidence_z`) was chosen on this bench, beside every other way printed.

Frames mean something only by colour here: the CLIP model is the palette encoder, whose text
tower knows colour words ("reds", "greens", ...) and nothing else, so no query asks frames for
anything but a colour, and the text vectors of speech, on-screen text and subtitles match a query
only through colour words; the words themselves are matched by keyword search.

Query classes: said, written, subtitled (one signal holds the answer), pictured (frames, by a
colour word or a picture), heard (by a sound), two-signal (said or subtitled while a colour is on
screen, or said while the same words are on screen: each signal alone is ambiguous, as every
phrase is said three times and every colour or text shown three times, and only one place has
both), no-answer (no word, colour or sound of the library).

Metrics, per query class, for each fusion method over all signals and for each signal alone:
R@1 and R@5 (a moment is right when it overlaps an answer in the right video), mAP (each answer
found once), the top moment's temporal IoU with its answer (mean, and the share >= 0.5), the
median start error of right top moments, the share of answers whose moment (the first to find
it) is longer than 3x the answer, and for no-answer queries the share that return nothing.
Moments whose scores tie are ordered at random (the mean over 50 orders), so no metric rewards
the order of video ids.

The indexed library is kept in --root, under a folder named for the generator's version and size,
and reused: the first run indexes it (Whisper, OCR and the audio projection on the CPU), later
runs only search."""

from __future__ import annotations

import argparse
import math
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tests.media import (
    CJK_FONT,
    Scene,
    Slide,
    chirp,
    music,
    noise,
    place,
    slide_frame,
    speech,
    tone,
    write_frames,
    write_subtitled,
)
from tests.palette_encoder import PALETTE, SPEC, PaletteEncoder, register
from vidseek.core.records import MODALITIES, TEXT_MODALITIES
from vidseek.core.settings import Settings
from vidseek.indexer.decode import AUDIO_RATE
from vidseek.search.queries.engine import SearchOptions
from vidseek.search.queries.keyword import query_terms
from vidseek.search.queries.ranking import Moment, Noise, Sources, fuse, merge_moments

GENERATOR_VERSION = 1  # bump when the library or its answers change: a new folder is built
FPS = 5
SIZE = (640, 360)  # large enough for the OCR to read a 40-pixel caption
SOUNDS: dict[str, Callable[[float], np.ndarray]] = {
    "tone": lambda s: tone(440, s),
    "chirp": lambda s: chirp(300, 3000, s),
    "noise": lambda s: noise(s, volume=0.2, seed=1),
}
SOUND_OF = {"reds": "tone", "blues": "chirp", "greens": "noise"}  # heard while it is seen
TIE_ORDERS = 50  # random orders of tied moments each metric is averaged over
LONG_FACTOR = 3.0  # a moment longer than this many times its answer is reported
K = 10  # moments a query returns


# --- the library's plan ----------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """One video of the library: what is on screen, said, heard and subtitled, and when."""

    name: str
    seconds: float
    scenes: tuple[tuple[float, float, str], ...] = ()  # (t0, t1, colour word); else blacks
    captions: tuple[tuple[float, float, str], ...] = ()  # text in the middle of the picture
    corner: str = ""  # text in a corner for the whole video (a channel's name)
    timecode: bool = False  # the time burned in, changing every second
    said: tuple[tuple[float, str], ...] = ()
    sounds: tuple[tuple[float, float, str], ...] = ()  # (t0, t1, tone | chirp | noise)
    music: bool = False  # a music bed under everything
    cues: tuple[tuple[float, float, str], ...] = ()
    subtitles: str = ""  # srt, vtt (sidecar files) or mov_text, subrip (streams in the file)
    background: str = "blacks"

    def colour_at(self, t: float) -> str:
        return next((c for t0, t1, c in self.scenes if t0 <= t < t1), self.background)

    @property
    def has_audio(self) -> bool:
        return bool(self.said or self.sounds or self.music)


def trimmed(plan: Plan, name: str, start: float) -> Plan:
    """A near-duplicate: the same video from `start` on, as a re-upload cut at the front."""
    def spans(items):
        return tuple((max(0.0, a - start), b - start, x) for a, b, x in items if b > start)
    return replace(plan, name=name, seconds=plan.seconds - start, scenes=spans(plan.scenes),
                   captions=spans(plan.captions), sounds=spans(plan.sounds),
                   cues=spans(plan.cues),
                   said=tuple((t - start, s) for t, s in plan.said if t >= start))


# Said once (or in one video and its near-duplicate): the `said` queries.
BUDGET = "We must finish the budget before the deadline."
FOOTBALL = "The children are playing football in the park."
SAXOPHONE = "My grandmother keeps an old saxophone under her bed."
LIGHTHOUSE = "The lighthouse keeper writes in his logbook every night."
WAREHOUSE = "Our new warehouse will open in September."
VOLCANO = "The volcano erupted twice during the expedition."
PASSPORT = "Please bring your passport to the airport."
MUSEUM = "The museum closes early on public holidays."
REVENUE = "Revenue grew by twelve percent this quarter."
ORCHESTRA = "The orchestra rehearsed the symphony all afternoon."
CROISSANTS = "The bakery sells fresh croissants every morning."
TRAIN = "The train to the mountains leaves at seven."
# Said three times each: only one place has the colour (or the words shown) too.
VOTE = "The vote was unanimous."
DINNER = "Dinner is served in the garden."
BRIDGE = "The bridge is closed for repairs."
GOAL = "She scored the winning goal."
PARCEL = "The parcel arrived this morning."
MERGER = "The merger has been approved."
TICKETS = "Tickets are sold out."
FAIR = "Welcome to the annual science fair."
# Subtitled.
OTTER = "The otter juggles pebbles on its belly."
GLACIER = "Glaciers carve valleys over thousands of years."
HUMMINGBIRD = "The hummingbird beats its wings eighty times a second."
GARAGE = "I started the company in my garage."
DENTIST = "Our first customer was a dentist."
BEAM = "The lighthouse beam swept across the bay."
SORCIERE = "Bonne nuit, dit la sorcière."
SUGAR = "Photosynthesis turns sunlight into sugar."
HARBOUR = "Meet me at the harbour."
STORM = "The storm is coming."
# Shown.
PATTERN = "1024x768 25fps PhotoJPEG 75%"
CHANNEL = "CHANNEL SEVEN NEWS"
SLIDE = "QUARTERLY RESULTS"
MERGER_SIGN, SOLD_OUT, FAIR_SIGN = "MERGER APPROVED", "SOLD OUT", "SCIENCE FAIR"


def said_over(t: float, sentence: str, what: str) -> tuple[tuple[float, str], tuple]:
    """A sentence said at `t`, and a scene of a colour (or a caption) on screen for as long as
    it is said, in whole seconds (frames are read once a second)."""
    a, b = voiced(sentence)
    return (t, sentence), (t + math.floor(a), t + math.ceil(b), what)


def plans(small: bool = False) -> list[Plan]:
    """Every video of the library; `small`: the few the suite's version indexes."""
    vote_said, vote_scene = said_over(4, VOTE, "greens")
    parcel_said, parcel_scene = said_over(20, PARCEL, "greens")
    goal_said, goal_scene = said_over(20, GOAL, "reds")
    dinner_said, dinner_scene = said_over(4, DINNER, "blues")
    bridge_said, bridge_scene = said_over(24, BRIDGE, "yellows")
    merger_said, merger_sign = said_over(30, MERGER, MERGER_SIGN)
    fair_said, fair_sign = said_over(4, FAIR, FAIR_SIGN)
    tickets_said, tickets_sign = said_over(14, TICKETS, SOLD_OUT)
    testpattern = Plan("testpattern.mp4", 60, background="greys", captions=((0, 60, PATTERN),),
                       said=((5, BUDGET), (25, FOOTBALL), (45, SAXOPHONE)))
    meeting = Plan("meeting.mp4", 36, scenes=(vote_scene, goal_scene),
                   said=(vote_said, (12, DINNER), goal_said, (28, PARCEL)))
    picnic = Plan("picnic.mp4", 36, scenes=(dinner_scene, parcel_scene),
                  said=(dinner_said, (12, VOTE), parcel_said, (28, BRIDGE)))
    documentary = Plan("documentary.mp4", 28, background="greys", subtitles="srt",
                       cues=((2, 5, OTTER), (8, 11, GLACIER), (14, 17, HUMMINGBIRD),
                             (19, 22, HARBOUR), (24, 27, STORM)))
    interview = Plan("interview.mp4", 20, scenes=((12, 17, "blues"),), subtitles="mov_text",
                     cues=((1, 4, GARAGE), (6, 9, DENTIST), (13, 16, HARBOUR)))
    silent = Plan("silent.mp4", 10)
    if small:
        return [testpattern, meeting, picnic, documentary, interview, silent]
    bakery = Plan("bakery.mp4", 24, said=((3, CROISSANTS), (13, TRAIN)))
    return [
        testpattern, meeting, picnic, documentary, interview, silent, bakery,
        trimmed(bakery, "bakery_copy.mp4", 2.0),
        Plan("news.mp4", 40, corner=CHANNEL, captions=(merger_sign,),
             said=((4, LIGHTHOUSE), (12, FAIR), (20, WAREHOUSE), merger_said)),
        Plan("concert.mp4", 30, background="greys", music=True, scenes=(bridge_scene,),
             said=((3, VOLCANO), (14, PASSPORT), bridge_said)),
        Plan("slide.mp4", 45, captions=((0, 45, SLIDE),),
             said=((8, MUSEUM), (22, REVENUE), (35, TICKETS))),
        Plan("timecode.mp4", 30, background="greys", timecode=True,
             said=((6, ORCHESTRA), (18, VOTE), (25, MERGER))),
        Plan("signs.mp4", 30, scenes=((3, 6, "greens"), (15, 18, "blues")),
             captions=((3, 6, "QUOKKA CROSSING"), (9, 12, "袋鼠过马路"),
                       (15, 18, "LIBRARY OPENS AT NINE"), (21, 24, "下个月的预算截止日期"))),
        Plan("platform.mp4", 28, background="greys",
             captions=((4, 8, "MIND THE GAP"), (12, 15, "NO PARKING"),
                       (18, 21, "GATE B12 BOARDING"), (23, 26, SOLD_OUT))),
        Plan("fair.mp4", 24, said=(fair_said, tickets_said), captions=(fair_sign, tickets_sign)),
        Plan("office.mp4", 36, said=((3, MERGER), (20, FAIR)),
             captions=((10, 14, FAIR_SIGN), (25, 29, MERGER_SIGN))),
        Plan("kitchen.mp4", 30, scenes=((18, 22, "yellows"), (24, 28, "greens")),
             said=((4, GOAL), (12, PARCEL))),
        Plan("stadium.mp4", 34, scenes=((27, 31, "yellows"),),
             said=((3, GOAL), (10, BRIDGE), (19, DINNER), (30, TICKETS)),
             captions=((5, 8, MERGER_SIGN), (12, 15, SOLD_OUT), (20, 22, FAIR_SIGN))),
        Plan("film.mkv", 24, background="greys", scenes=((14, 19, "yellows"),),
             subtitles="subrip", cues=((2, 5, BEAM), (8, 11, SORCIERE), (15, 18, STORM))),
        Plan("lecture.mp4", 20, background="greys", subtitles="vtt",
             cues=((3, 6, SUGAR), (9, 12, STORM), (14, 17, HARBOUR))),
        *[Plan(f"sounds{i}.mp4", 12,
               scenes=tuple((4 * j, 4 * j + 4, c) for j, c in enumerate(order)),
               sounds=tuple((4 * j, 4 * j + 4, SOUND_OF[c]) for j, c in enumerate(order)))
          for i, order in enumerate([("reds", "blues", "greens"), ("blues", "greens", "reds"),
                                     ("greens", "reds", "blues"), ("reds", "greens", "blues")])],
        Plan("dark.mp4", 16, sounds=((2, 5, "tone"), (9, 12, "chirp"))),
        Plan("ambient.mp4", 20, background="greys", music=True),
    ]


# --- the queries and their answers -----------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    video: str  # the file's name
    t0: float
    t1: float


@dataclass(frozen=True)
class Query:
    text: str  # the sentence, or what the picture or sound is
    kind: str  # what asks: a sentence, a picture (`image`) or a sound
    group: str  # said | written | subtitled | pictured | heard | two-signal | no-answer
    answers: tuple[Answer, ...]
    colour: str = ""  # image queries: a solid picture of this palette colour
    sound: str = ""  # sound queries: which sound


def voiced(sentence: str) -> tuple[float, float]:
    """Where espeak-ng's voice is inside its clip (it pads with silence), in seconds."""
    clip = spoken(sentence)
    loud = np.flatnonzero(np.abs(clip) > 0.02 * np.abs(clip).max())
    return float(loud[0] / AUDIO_RATE), float((loud[-1] + 1) / AUDIO_RATE)


_SPOKEN: dict[str, np.ndarray] = {}


def spoken(sentence: str) -> np.ndarray:
    if sentence not in _SPOKEN:
        _SPOKEN[sentence] = speech(sentence)
    return _SPOKEN[sentence]


def said_spans(library: list[Plan], sentence: str) -> list[Answer]:
    a, b = voiced(sentence)
    return [Answer(p.name, t + a, t + b) for p in library for t, s in p.said if s == sentence]


def shown_spans(library: list[Plan], text: str) -> list[Answer]:
    spans = [Answer(p.name, t0, t1) for p in library for t0, t1, s in p.captions if s == text]
    return spans + [Answer(p.name, 0.0, p.seconds) for p in library if p.corner == text]


def cue_spans(library: list[Plan], text: str) -> list[Answer]:
    return [Answer(p.name, t0, t1) for p in library for t0, t1, s in p.cues if s == text]


def colour_spans(library: list[Plan], colour: str) -> list[Answer]:
    """Every stretch of the library whose picture is of `colour` (scenes, and backgrounds)."""
    out = []
    for p in library:
        cuts = sorted({0.0, p.seconds, *(t for s in p.scenes for t in s[:2])})
        for t0, t1 in zip(cuts, cuts[1:], strict=False):
            if p.colour_at(t0) == colour:
                if out and out[-1].video == p.name and out[-1].t1 == t0:
                    out[-1] = replace(out[-1], t1=t1)
                else:
                    out.append(Answer(p.name, t0, t1))
    return out


def sound_spans(library: list[Plan], sound: str) -> list[Answer]:
    return [Answer(p.name, t0, t1) for p in library for t0, t1, s in p.sounds if s == sound]


def both(first: list[Answer], second: list[Answer]) -> list[Answer]:
    """Where two things happen at once: the overlap of a span of each, in one video."""
    return [Answer(a.video, max(a.t0, b.t0), min(a.t1, b.t1))
            for a in first for b in second
            if a.video == b.video and min(a.t1, b.t1) > max(a.t0, b.t0)]


def queries(library: list[Plan]) -> list[Query]:
    """Every query whose answers the library holds (and the no-answer ones), by group."""
    names = {p.name for p in library}

    def q(text, group, answers, **kw):
        return Query(text, kw.pop("kind", "text"), group, tuple(answers), **kw)

    said = [("when is the budget deadline", BUDGET), ("kids playing football in the park", FOOTBALL),
            ("grandmother saxophone", SAXOPHONE), ("lighthouse keeper logbook", LIGHTHOUSE),
            ("new warehouse opening in september", WAREHOUSE),
            ("volcano eruption expedition", VOLCANO), ("bring your passport to the airport", PASSPORT),
            ("museum closes early on holidays", MUSEUM), ("revenue grew twelve percent", REVENUE),
            ("orchestra rehearsing the symphony", ORCHESTRA),
            ("fresh croissants at the bakery", CROISSANTS), ("train to the mountains", TRAIN)]
    written = [("quokka crossing", "QUOKKA CROSSING"), ("袋鼠过马路", "袋鼠过马路"),
               ("when does the library open", "LIBRARY OPENS AT NINE"),
               ("预算", "下个月的预算截止日期"), ("quarterly results", SLIDE),
               ("channel seven news", CHANNEL), ("photo jpeg", PATTERN),
               ("mind the gap", "MIND THE GAP"), ("no parking", "NO PARKING"),
               ("boarding gate b12", "GATE B12 BOARDING")]
    subtitled = [("otter juggling pebbles", OTTER), ("glaciers carving valleys", GLACIER),
                 ("hummingbird wings", HUMMINGBIRD),
                 ("started the company in a garage", GARAGE),
                 ("first customer was a dentist", DENTIST),
                 ("lighthouse beam across the bay", BEAM), ("bonne nuit sorcière", SORCIERE),
                 ("photosynthesis sunlight sugar", SUGAR)]
    two_signal = [
        ("vote unanimous greens", said_spans(library, VOTE), colour_spans(library, "greens")),
        ("dinner in the garden blues", said_spans(library, DINNER), colour_spans(library, "blues")),
        ("bridge closed for repairs yellows", said_spans(library, BRIDGE),
         colour_spans(library, "yellows")),
        ("winning goal reds", said_spans(library, GOAL), colour_spans(library, "reds")),
        ("parcel arrived greens", said_spans(library, PARCEL), colour_spans(library, "greens")),
        ("merger approved", said_spans(library, MERGER), shown_spans(library, MERGER_SIGN)),
        ("tickets sold out", said_spans(library, TICKETS), shown_spans(library, SOLD_OUT)),
        ("annual science fair", said_spans(library, FAIR), shown_spans(library, FAIR_SIGN)),
        ("meet me at the harbour blues", cue_spans(library, HARBOUR), colour_spans(library, "blues")),
        ("the storm is coming yellows", cue_spans(library, STORM), colour_spans(library, "yellows")),
    ]
    no_answer = ["penguins skating on a frozen lake", "a helicopter landing on the roof",
                 "the dragon guards the treasure", "kneading sourdough dough",
                 "a purple umbrella", "a picture full of whites", "熊猫吃竹子",
                 "the astronaut fixed the satellite", "elephants bathing in the river",
                 "the cat sleeps on the sofa", "a wizard casting spells"]
    out = [q(text, "said", said_spans(library, s)) for text, s in said]
    out += [q(text, "written", shown_spans(library, s)) for text, s in written]
    out += [q(text, "subtitled", cue_spans(library, s)) for text, s in subtitled]
    for colour in ("reds", "greens", "blues", "yellows"):
        out.append(q(f"a scene full of {colour}", "pictured", colour_spans(library, colour)))
        out.append(q(f"a picture of {colour}", "pictured", colour_spans(library, colour),
                     kind="image", colour=colour))
    out += [q(f"the sound of a {s}", "heard", sound_spans(library, s), kind="sound", sound=s)
            for s in SOUNDS]
    out += [q(text, "two-signal", both(a, b)) for text, a, b in two_signal]
    out += [q(text, "no-answer", []) for text in no_answer]
    out.append(q("a picture of whites", "no-answer", [], kind="image", colour="whites"))
    # The small library holds some of the videos: only queries answered in it (or by nothing).
    kept = [replace(x, answers=tuple(a for a in x.answers if a.video in names)) for x in out]
    return [x for x in kept if x.answers or x.group == "no-answer"]


# --- writing the videos ----------------------------------------------------------------------

COLOURS = {word: rgb for word, (_, rgb) in PALETTE.items()}


def _label(img: np.ndarray, text: str, corner: str) -> np.ndarray:
    """`text` in white on a dark band, in the top-left or bottom-right corner."""
    from PIL import Image, ImageDraw, ImageFont

    picture = Image.fromarray(img)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.truetype(CJK_FONT, 22)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    w, h = x1 - x0, y1 - y0
    x, y = (12, 12) if corner == "top-left" else (SIZE[0] - w - 12, SIZE[1] - h - 12)
    draw.rectangle((x - 6, y - 6, x + w + 6, y + h + 6), fill=(20, 20, 20))
    draw.text((x - x0, y - y0), text, font=font, fill=(255, 255, 255))
    return np.array(picture)


def frames(plan: Plan) -> Iterator[np.ndarray]:
    """The plan's pictures, FPS a second; each different picture is drawn once."""
    drawn: dict[tuple, np.ndarray] = {}
    for i in range(int(round(plan.seconds * FPS))):
        t = i / FPS
        caption = next((s for t0, t1, s in plan.captions if t0 <= t < t1), "")
        stamp = f"00:00:{int(t):02d}" if plan.timecode else ""
        key = (plan.colour_at(t), caption, stamp)
        if key not in drawn:
            img = slide_frame(Slide(1, caption, COLOURS[key[0]]), SIZE)
            if plan.corner:
                img = _label(img, plan.corner, "top-left")
            if stamp:
                img = _label(img, stamp, "bottom-right")
            drawn[key] = img
        yield drawn[key]


def soundtrack(plan: Plan) -> np.ndarray:
    clips = [(t, spoken(s)) for t, s in plan.said]
    clips += [(t0, SOUNDS[s](t1 - t0)) for t0, t1, s in plan.sounds]
    track = place(plan.seconds, clips)
    if plan.music:
        track += music(plan.seconds, volume=0.08)
    return track


def write_plan(plan: Plan, folder: Path) -> Path:
    path = folder / plan.name
    if plan.subtitles in ("mov_text", "subrip"):
        # A text stream inside the file: a plain picture (no text drawn on it), no sound.
        cuts = sorted({0.0, plan.seconds, *(t for s in plan.scenes for t in s[:2])})
        scenes = [Scene(b - a, COLOURS[plan.colour_at(a)]) for a, b in zip(cuts, cuts[1:],
                                                                              strict=False)]
        return write_subtitled(path, scenes, list(plan.cues), plan.subtitles, "eng", fps=FPS)
    write_frames(path, frames(plan), FPS, SIZE, soundtrack(plan) if plan.has_audio else None)
    if plan.subtitles == "srt":
        path.with_suffix(".srt").write_text(_srt(plan.cues))
    elif plan.subtitles == "vtt":
        path.with_suffix(".en.vtt").write_text(_vtt(plan.cues))
    return path


def _clock(t: float, comma: bool) -> str:
    ms = int(round(t * 1000))
    text = f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
    return text.replace(".", ",") if comma else text


def _srt(cues) -> str:
    return "\n".join(f"{i}\n{_clock(a, True)} --> {_clock(b, True)}\n{text}\n"
                     for i, (a, b, text) in enumerate(cues, start=1))


def _vtt(cues) -> str:
    return "WEBVTT\n\n" + "\n".join(f"{_clock(a, False)} --> {_clock(b, False)}\n{text}\n"
                                    for a, b, text in cues)


def check_pictures(library: list[Plan]) -> None:
    """Each picture drawn is of the colour its plan says, to the palette encoder: the text drawn
    on it does not move it to another colour (else a `pictured` answer would be wrong)."""
    encoder = PaletteEncoder()
    axis_of = {axis: word for word, (axis, _) in PALETTE.items()}
    for plan in library:
        for i, img in enumerate(frames(plan)):
            if i % FPS == 0:
                seen = axis_of[int(np.argmax(encoder.embed_images(img[None])[0]))]
                expected = plan.colour_at(i / FPS)
                if seen != expected:
                    raise AssertionError(f"{plan.name} at {i / FPS:g} s looks {seen}, "
                                         f"not {expected}")


def check_no_answer(library: list[Plan], asked: list[Query]) -> None:
    """No word of a no-answer query is said, shown or subtitled anywhere in the library, not
    even inside a run of characters or with another ending ("repaired", "repairs")."""
    worded = " ".join(s for p in library for s in [*(x for _, x in p.said),
                                                   *(c[2] for c in p.captions), p.corner,
                                                   *(c[2] for c in p.cues)]).lower()
    stems = {w[:5] for w in re.findall(r"\w+", worded) if len(w) >= 5}
    for query in asked:
        if query.group == "no-answer" and query.kind == "text":
            found = [w for w in query_terms(query.text) if w in worded or w[:5] in stems]
            if found:
                raise AssertionError(f"no-answer query {query.text!r} has {found} in the library")


# --- building and opening the library --------------------------------------------------------

def library_settings(data_dir: Path, whisper_model: str) -> Settings:
    """Every stage on, the palette encoder, Whisper base on the CPU, on this machine only."""
    return Settings.load(env={}, data_dir=data_dir, clip_model=SPEC, allow_download=False,
                         transcribe=True, whisper_model=whisper_model, index_audio=True,
                         index_ocr=True, audio_min_pairs=50, label_after_index=False,
                         threads=2)


def whisper_model(root: Path) -> str:
    """The bundled Whisper base, assembled once under `root`."""
    from vidseek.models.whisper_model import resolve_whisper_model

    return resolve_whisper_model("base", root / "models")


def build(root: Path, small: bool, rebuild: bool = False) -> Path:
    """The indexed library for this generator version and size under `root`, made if missing."""
    from vidseek.library import Library

    home = root / f"quality-v{GENERATOR_VERSION}-{'small' if small else 'full'}"
    done = home / "indexed"
    if rebuild and home.exists():
        shutil.rmtree(home)
    if done.exists():
        return home
    if home.exists():
        shutil.rmtree(home)  # a build that stopped half-way
    library = plans(small)
    check_pictures(library)
    check_no_answer(library, queries(library))
    videos = home / "videos"
    videos.mkdir(parents=True)
    started = time.monotonic()
    for plan in library:
        write_plan(plan, videos)
    lib = Library(library_settings(home / "data", whisper_model(root)), register())
    outcome = lib.index(videos)
    lib.close()
    if outcome.report.failed:
        raise RuntimeError(f"videos failed to index: {outcome.report.failed}")
    if not small and (outcome.audio is None or outcome.audio.record is None):
        raise RuntimeError(f"the audio projection was not trained: {outcome.audio}")
    done.write_text(f"{time.monotonic() - started:.0f} s to write and index\n")
    return home


# --- metrics (pure) --------------------------------------------------------------------------

def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Temporal intersection over union of two spans (0 when they do not overlap)."""
    inter = min(a[1], b[1]) - max(a[0], b[0])
    if inter <= 0:
        return 0.0
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def best_answer(video: str, span: tuple[float, float],
                answers: tuple[Answer, ...]) -> int | None:
    """The answer a moment (in `video`, over `span`) finds: of those it overlaps, the one of
    largest IoU; None when it overlaps none."""
    scored = [(iou(span, (a.t0, a.t1)), i) for i, a in enumerate(answers) if a.video == video]
    scored = [(x, i) for x, i in scored if x > 0]
    return max(scored)[1] if scored else None


def recall_at(found: list[int | None], k: int) -> float:
    """1 when one of the first `k` moments finds an answer, else 0."""
    return float(any(f is not None for f in found[:k]))


def average_precision(found: list[int | None], n_answers: int) -> float:
    """Precision at each moment that finds an answer not found above it, averaged over all the
    query's answers (those never found count 0)."""
    seen: set[int] = set()
    total = 0.0
    for rank, f in enumerate(found, start=1):
        if f is not None and f not in seen:
            seen.add(f)
            total += len(seen) / rank
    return total / n_answers if n_answers else 0.0


def start_error(moment_t0: float, answer: Answer) -> float:
    """Seconds between where a moment starts playing and where its answer begins."""
    return abs(moment_t0 - answer.t0)


@dataclass(frozen=True)
class Found:
    """One ranked moment, as the metrics see it."""

    video: str
    t0: float
    t1: float
    score: float


@dataclass
class Scores:
    """One query's metrics for one way of ranking (means over the orders of tied moments)."""

    r1: float
    r5: float
    ap: float
    iou: float | None  # the top moment's, None for no-answer queries
    start_error: float | None  # the top moment's when it is right
    long: list[bool] = field(default_factory=list)  # per answer found: its moment too long
    empty: bool = False  # returned nothing


def score_query(query: Query, ranked: list[Found], rng: np.random.Generator) -> Scores:
    """The metrics of one ranking of one query, ties ordered at random TIE_ORDERS times (by
    `rng`: the same for every way of ranking, so two ways that rank alike score alike)."""
    if not query.answers:
        return Scores(0.0, 0.0, 0.0, None, None, empty=not ranked)
    runs = [_score_order(query, order) for order in tie_orders(ranked, rng)]
    errors = [r.start_error for r in runs if r.start_error is not None]
    return Scores(float(np.mean([r.r1 for r in runs])), float(np.mean([r.r5 for r in runs])),
                  float(np.mean([r.ap for r in runs])), float(np.mean([r.iou for r in runs])),
                  float(np.mean(errors)) if len(errors) == len(runs) else None,
                  runs[0].long, empty=not ranked)


def tie_orders(ranked: list[Found], rng: np.random.Generator) -> list[list[Found]]:
    """The ranking as given, or TIE_ORDERS random orders of it where scores tie."""
    scores = [f.score for f in ranked]
    if len(set(scores)) == len(scores):
        return [ranked]
    out = []
    for _ in range(TIE_ORDERS):
        keys = rng.random(len(ranked))
        out.append([ranked[i] for i in sorted(range(len(ranked)),
                                              key=lambda i: (-scores[i], keys[i]))])
    return out


def _score_order(query: Query, ranked: list[Found]) -> Scores:
    found = [best_answer(f.video, (f.t0, f.t1), query.answers) for f in ranked]
    top_iou, error = 0.0, None
    if ranked and found[0] is not None:
        answer = query.answers[found[0]]
        top_iou = iou((ranked[0].t0, ranked[0].t1), (answer.t0, answer.t1))
        error = start_error(ranked[0].t0, answer)
    # Measured on the moment that finds each answer first (a later one is a second look at an
    # answer already found, as in average precision).
    first = {i: f for f, i in reversed(list(zip(ranked, found, strict=True))) if i is not None}
    long = [f.t1 - f.t0 > LONG_FACTOR * (query.answers[i].t1 - query.answers[i].t0)
            for i, f in first.items()]
    return Scores(recall_at(found, 1), recall_at(found, 5),
                  average_precision(found, len(query.answers)), top_iou, error, long)


# --- ranking one query's hits every way ------------------------------------------------------

def fused(fusion: str, evidence_z: float = 0.0, noise_of: str = "sample") -> Callable:
    """A fusion method over every source, as the engine ranks: `evidence_z` 0 counts every
    hit; else only those standing out of their noise, measured on a sample of their index
    (`sample`, as the engine does) or on the hits the index returned for the query (`top-k`)."""
    def rank(sources: Sources, options: SearchOptions) -> list[Moment]:
        noise = sources.noise
        if noise_of == "top-k":
            noise = {s: Noise.of(np.array([h.similarity for h in sources.hits[s]]))
                     for s in sources.noise}
        fusion_options = replace(options.fusion, method=fusion, evidence_z=evidence_z)
        hits = fuse({s: h for s, h in sources.hits.items() if h}, fusion_options, noise)
        return merge_moments(hits, options.merge_gap, options.merge_margin, limit=options.k)
    return rank


METHODS: dict[str, Callable] = {
    "rrf": fused("rrf"), "weighted": fused("weighted"),
    **{f"rrf z>={z:g}": fused("rrf", z) for z in (2, 3, 4, 5)},
    "weighted z>=3": fused("weighted", 3),
    "rrf z>=3 top-k": fused("rrf", 3, "top-k"),
}


def as_configured(sources: Sources, options: SearchOptions) -> list[Moment]:
    """The ranking the settings' defaults give (what `vidseek search` returns)."""
    hits = fuse({s: h for s, h in sources.hits.items() if h}, options.fusion, sources.noise)
    return merge_moments(hits, options.merge_gap, options.merge_margin, limit=options.k)


def one_signal(sources: Sources, modality: str) -> Sources:
    """The hits of one signal alone: its vector index, and keyword hits on its own words."""
    hits = {modality: sources.hits.get(modality, [])}
    if modality in TEXT_MODALITIES:
        hits["keyword"] = [h for h in sources.hits.get("keyword", []) if h.modality == modality]
    return Sources(hits, {m: n for m, n in sources.noise.items() if m == modality})


def gather(lib, query: Query, options: SearchOptions, clips: Path) -> Sources:
    """Each source's hits for one query, searched once."""
    engine = lib.engine
    if query.kind == "text":
        return engine.text_sources(query.text, options)
    if query.kind == "image":
        image = np.empty((96, 160, 3), np.uint8)
        image[:] = COLOURS[query.colour]
        return engine.image_sources(image, options)
    return engine.vector_sources({"audio": sound_vectors(lib, query.sound, clips)}, options)


def sound_vectors(lib, sound: str, clips: Path) -> np.ndarray:
    """The audio vectors of a 3-s clip of `sound` over a black picture, indexed as a query."""
    path = clips / f"{sound}.mp4"
    if not path.exists():
        clips.mkdir(parents=True, exist_ok=True)
        black = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
        write_frames(path, (black for _ in range(3 * FPS)), FPS, SIZE, SOUNDS[sound](3.0))
    heard = [s.vector for s in lib.indexer.analyze(path).segments if s.modality == "audio"]
    return np.stack(heard)


def evaluate(root: Path, home: Path, small: bool) -> dict[tuple[str, str], list[tuple[Query, Scores]]]:
    """(way of ranking, query) scores: every fusion method over all signals, then each signal
    alone ranked as configured; keyed by ("fused", method) or ("alone", signal)."""
    from vidseek.library import Library

    library = plans(small)
    asked = queries(library)
    check_no_answer(library, asked)
    lib = Library(library_settings(home / "data", whisper_model(root)), register())
    options = lib.search_options(k=K)
    names = {v.id: Path(v.path).name for v in lib.store.videos()}
    results: dict[tuple[str, str], list[tuple[Query, Scores]]] = {}

    def record(way, query, moments):
        ranked = [Found(names[m.video_id], m.t0, m.t1, m.score) for m in moments]
        rng = np.random.default_rng(list(query.text.encode()))
        results.setdefault(way, []).append((query, score_query(query, ranked, rng)))

    for query in asked:
        sources = gather(lib, query, options, home / "query-clips")
        record(("fused", "as configured"), query, as_configured(sources, options))
        for name, method in METHODS.items():
            record(("fused", name), query, method(sources, options))
        for modality in MODALITIES:
            record(("alone", modality), query, as_configured(one_signal(sources, modality),
                                                             options))
    lib.close()
    return results


# --- the report ------------------------------------------------------------------------------

GROUPS = ("said", "written", "subtitled", "pictured", "heard", "two-signal")
WORDED = ("said", "written", "subtitled")  # the IoU and start-error targets' queries


def summary(rows: list[tuple[Query, Scores]]) -> dict[str, float | None]:
    """Means over queries; the median start error over right top moments."""
    if not rows:
        return {}
    scores = [s for _, s in rows]
    errors = [s.start_error for s in scores if s.start_error is not None]
    long = [x for s in scores for x in s.long]
    ious = [s.iou for s in scores if s.iou is not None]
    return {"n": len(rows), "R@1": np.mean([s.r1 for s in scores]),
            "R@5": np.mean([s.r5 for s in scores]), "mAP": np.mean([s.ap for s in scores]),
            "IoU": np.mean(ious) if ious else None,
            "IoU>=.5": np.mean([x >= 0.5 for x in ious]) if ious else None,
            "start": statistics.median(errors) if errors else None,
            ">3x": np.mean(long) if long else 0.0}


COLUMNS = ("n", "R@1", "R@5", "mAP", "IoU", "IoU>=.5", "start", ">3x")


def _cell(name: str, value) -> str:
    if value is None:
        return f"{'-':>8}"
    if name == "n":
        return f"{int(value):>8d}"
    return f"{value:>8.2f}" if name != "start" else f"{value:>7.2f}s"


def print_report(results: dict[tuple[str, str], list[tuple[Query, Scores]]]) -> None:
    ways = list(results)
    width = max(len(f"{a} {b}") for a, b in ways) + 2
    header = f"{'':<{width}}" + "".join(f"{c:>8}" for c in COLUMNS)
    for group in [g for g in GROUPS if any(q.group == g for q, _ in results[ways[0]])]:
        print(f"\n{group}")
        print(header)
        for way in ways:
            rows = [r for r in results[way] if r[0].group == group]
            if not rows:
                continue
            s = summary(rows)
            if way[0] == "alone" and not any(x.r1 or x.r5 for _, x in rows):
                continue  # a signal that never finds this group's answers
            print(f"{way[0] + ' ' + way[1]:<{width}}" + "".join(_cell(c, s.get(c))
                                                               for c in COLUMNS))
    print("\nno-answer: share of queries that return nothing")
    for way in ways:
        rows = [s for q, s in results[way] if q.group == "no-answer"]
        print(f"{way[0] + ' ' + way[1]:<{width}}{np.mean([s.empty for s in rows]):>8.2f}"
              f"  ({sum(s.empty for s in rows)} of {len(rows)})")
    print_targets(results)


def print_targets(results: dict[tuple[str, str], list[tuple[Query, Scores]]]) -> None:
    """The issue's targets, for each fusion method."""
    print("\ntargets (issue 29), each fusion method:")
    for way in [w for w in results if w[0] == "fused"]:
        rows = results[way]
        worded = [s for q, s in rows if q.group in WORDED]
        errors = [s.start_error for s in worded if s.start_error is not None]
        long = [x for q, s in rows if q.group != "no-answer" for x in s.long]
        two = [s.r1 for q, s in rows if q.group == "two-signal"]
        best_alone = max((np.mean([s.r1 for q, s in results[w] if q.group == "two-signal"])
                          for w in results if w[0] == "alone"), default=0.0)
        empty = [s.empty for q, s in rows if q.group == "no-answer"]
        checks = [
            ("top IoU >= 0.5, said/written/subtitled", np.mean([s.iou >= 0.5 for s in worded]),
             ">= 0.95", np.mean([s.iou >= 0.5 for s in worded]) >= 0.95),
            ("median start error (s)", statistics.median(errors) if errors else math.inf,
             "<= 1.0", bool(errors) and statistics.median(errors) <= 1.0),
            ("moments > 3x their answer", np.mean(long) if long else 0.0, "0",
             not any(long)),
            ("two-signal R@1 - best signal alone", np.mean(two) - best_alone, ">= 0.10",
             np.mean(two) - best_alone >= 0.10),
            ("no-answer queries returning nothing", np.mean(empty), ">= 0.90",
             np.mean(empty) >= 0.90),
        ]
        print(f"  {way[1]}:")
        for name, value, target, ok in checks:
            print(f"    {name:<40} {value:>6.2f}  target {target:<8} {'met' if ok else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "vidseek-quality",
                   help="where the indexed library is kept between runs")
    p.add_argument("--small", action="store_true", help="the suite's small library")
    p.add_argument("--rebuild", action="store_true", help="write and index the library again")
    args = p.parse_args(argv)
    started = time.monotonic()
    home = build(args.root, args.small, args.rebuild)
    built = time.monotonic()
    results = evaluate(args.root, home, args.small)
    n = len(next(iter(results.values())))
    configured = library_settings(home, "")
    print(f"library {home.name}: {(home / 'indexed').read_text().strip()} (this run: "
          f"{built - started:.0f} s to build or open); {n} queries searched in "
          f"{time.monotonic() - built:.0f} s; as configured: fusion {configured.fusion}, "
          f"evidence_z {configured.evidence_z:g}")
    print_report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
