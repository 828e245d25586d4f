"""The People page: every person found by their faces, with a crop of each face track, where
the user names, merges, splits off a wrong face, hides and forgets (web/static/people.js sends
the changes to the JSON API, web/people_api.py)."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from vidseek.web.context import current_library
from vidseek.web.people_api import face_payload, person_payload

people_ui = Blueprint("people_ui", __name__)

FACES_SHOWN = 24  # a person's face crops shown on the page (the API lists them all)


@people_ui.get("/people")
def people_page():
    """The people, named first; the hidden ones too with ?hidden=true."""
    lib = current_library()
    hidden = request.args.get("hidden") == "true"
    titles = {v.id: v.path.rsplit("/", 1)[-1] for v in lib.videos("indexed")}
    found = []
    for person in lib.list_people(hidden):
        tracks = lib.person_tracks(str(person.id))
        found.append({**person_payload(person), "faces": [
            {**face_payload(t), "title": titles.get(t.video_id, "")}
            for t in tracks[:FACES_SHOWN]]})
    return render_template("people.html", people=found, hidden=hidden)
