"""The JSON API of people: list them, see one's faces, name, merge, split off a
wrong face, hide, forget. The logic is in search/people/ (through Library); this is HTTP."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request, url_for

from vidseek.search.people.directory import FaceTrackInfo, PersonInfo
from vidseek.web import payloads
from vidseek.web.context import current_library
from vidseek.web.errors import ApiError
from vidseek.web.openapi import HIDE_FIELDS, MERGE_FIELDS, NAME_FIELDS, SPLIT_FIELDS
from vidseek.web.params import (
    checked_json,
    has_json_type,
)

people = Blueprint("people", __name__, url_prefix="/api/people")


def person_payload(person: PersonInfo) -> dict[str, Any]:
    """A person as listed, with the crop of their face."""
    face = person.face
    return {**person.payload(),
            "face_url": None if face is None else url_for("media.thumbnail", segment_id=face)}


def face_payload(track: FaceTrackInfo) -> dict[str, Any]:
    """One face track: where it is, its box, its crop and how to play it."""
    return {"face": track.segment_id, "video_id": track.video_id, "t0": round(track.t0, 3),
            "t1": round(track.t1, 3), "box": [round(x, 4) for x in track.box],
            "face_url": url_for("media.thumbnail", segment_id=track.segment_id),
            "playback_url": payloads.playback_url(track.video_id, track.t0, track.t1)}


def _body(example: str, fields: dict, required: str) -> dict:
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise ApiError(400, f"send a JSON object like {example}")
    body = checked_json(body, fields)
    if required not in body:
        raise ApiError(400, f"{required} is missing: send a JSON object like {example}")
    field = fields[required]
    if field["type"] == "array" and not (
            field["minItems"] <= len(body[required]) <= field["maxItems"]
            and all(has_json_type(x, field["items"]["type"]) for x in body[required])):
        raise ApiError(400, f"{required} must be {field['minItems']}-{field['maxItems']} "
                            f"{field['items']['type']}s, e.g. {example}")
    return body


@people.get("")
def list_people():
    """Every person found, named first; the hidden ones too with hidden=true."""
    hidden = request.args.get("hidden", "false")
    if hidden not in ("true", "false"):
        raise ApiError(400, f"hidden must be true or false, got {hidden!r}")
    found = current_library().list_people(hidden == "true")
    return jsonify({"people": [person_payload(p) for p in found]})


@people.get("/<person>")
def person(person: str):
    """One person and their face tracks, by video and time."""
    lib = current_library()
    return jsonify({**person_payload(lib.person(person)),
                    "faces": [face_payload(t) for t in lib.person_tracks(person)]})


@people.post("/<person>/name")
def name(person: str):
    """Name (or rename) a person, JSON {"name": "Grandma"}."""
    body = _body('{"name": "Grandma"}', NAME_FIELDS, "name")
    return jsonify(person_payload(current_library().name_person(person, body["name"])))


@people.post("/<person>/merge")
def merge(person: str):
    """Make others one person with this one, JSON {"people": ["7", "Gran"]}: their faces join
    it; it keeps its name (or takes the first of theirs)."""
    body = _body('{"people": ["7"]}', MERGE_FIELDS, "people")
    return jsonify(person_payload(current_library().merge_people(person, body["people"])))


@people.post("/<person>/split")
def split(person: str):
    """Split wrong faces off a person into a new one, JSON {"faces": [12]} (face ids)."""
    body = _body('{"faces": [12]}', SPLIT_FIELDS, "faces")
    return jsonify(person_payload(current_library().split_person(person, body["faces"]))), 201


@people.post("/<person>/hide")
def hide(person: str):
    """Hide a person from lists and facets, or show them again: JSON {"hidden": true}."""
    body = _body('{"hidden": true}', HIDE_FIELDS, "hidden")
    return jsonify(person_payload(current_library().hide_person(person, body["hidden"])))


@people.delete("/<person>")
def forget(person: str):
    """Forget a person for good: their face vectors, crops and tracks."""
    removed = current_library().forget_person(person)
    return jsonify({"forgotten": person, "faces": removed})
