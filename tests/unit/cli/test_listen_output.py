"""`micro listen --format json` puts each event's JSON into its line as it is, on one line."""

from __future__ import annotations

import json

from cli.listen import _one_line


def test_a_one_line_payload_goes_in_as_it_is() -> None:
    payload = '{"id":"evt_1","data":{"note":"a\\nb ☃"}}'
    assert _one_line(payload) is payload


def test_a_payload_over_several_lines_is_put_on_one() -> None:
    payload = json.dumps({"id": "evt_1", "data": {"n": 1}}, indent=2)
    line = _one_line(payload)
    assert "\n" not in line
    assert json.loads(line) == json.loads(payload)
