"""The API keeps to its own OpenAPI document: a bounded schemathesis run with every check
(what `st run --checks all .../api/openapi.json` runs: examples, boundary coverage, fuzzing and
stateful phases, positive and negative data, unsupported methods) against the app on a real
indexed library, with zero failures."""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from vidseek.web.app import create_app

pytestmark = pytest.mark.slow  # a schemathesis run of about half a minute

EXAMPLES = 5  # per operation and phase: a run of about half a minute

# A well-formed upload can still be bytes that are not an image or a video (415), decode to
# too many pixels (413), or a span that is empty or past the video's end (400): constraints on
# content that an OpenAPI schema cannot state; an example span must also hold frames. For these
# operations only, those answers count as the documented refusal of a schema-valid request.
UPLOADS_MAY_ANSWER = ["2xx", "3xx", "400", "401", "403", "404", "409", "413", "415", "429", "5xx"]


@pytest.fixture(scope="module")
def lib(search_library):
    return search_library


def failures_of(app) -> list[str]:
    """Every failed check of a schemathesis run against `app`, one line each."""
    config = SchemathesisConfig.from_dict({"operations": [
        {"include-path": path,
         "checks": {"positive_data_acceptance": {"expected-statuses": UPLOADS_MAY_ANSWER}}}
        for path in ("/api/search/image", "/api/search/video", "/api/labels/{name}/examples")]})
    config.projects.override.checks.update(included_check_names=["all"])
    config.projects.override.generation.update(max_examples=EXAMPLES, deterministic=True)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=config)
    found = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.failure_info is not None:
                        case = event.recorder.cases[case_id].value
                        failure = check.failure_info.failure
                        found.append(f"{event.phase.name} {case.method} {case.formatted_path} "
                                     f"query={case.query} {check.name}: {failure.title}: "
                                     f"{failure.message[:300]}")
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            found.append(f"error: {event.info.message}")
    return found


def test_the_api_conforms_to_its_openapi_document(lib):
    failures = failures_of(create_app(library=lib.library))
    assert not failures, "\n".join(sorted(set(failures))[:20])
