"""deploy/grafana: every dashboard is Grafana dashboard JSON the provisioning loads.

Every panel's PromQL against a running stack's /metrics: tests/e2e/test_observability_queries.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in DASHBOARDS]


def test_the_four_dashboards_parse_with_unique_uids() -> None:
    assert {path.stem for path in DASHBOARDS} == {"overview", "payments", "ledger", "events"}
    uids = [board["uid"] for board in dashboards()]
    assert len(set(uids)) == len(uids)


def test_every_panel_has_a_unique_id_a_place_a_unit_and_the_provisioned_datasource() -> None:
    (source,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )["datasources"]
    for board in dashboards():
        assert isinstance(board["schemaVersion"], int)
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids), board["uid"]
        for panel in board["panels"]:
            assert set(panel["gridPos"]) == {"h", "w", "x", "y"}, panel["title"]
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
            assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
            assert panel["targets"], panel["title"]
            assert all(t["expr"] for t in panel["targets"]), panel["title"]
