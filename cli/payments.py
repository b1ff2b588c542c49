"""`micro payments reconcile`: compare a provider's settlements with Micro's records.

Exit status: 0 when every line matched, 1 when anything did not (or the run failed, or the
gateway could not be asked), 2 for a usage error (a bad option, an unreadable file, a
request the API refused as invalid).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.client import ApiError, Gateway, cli_errors
from cli.options import ApiBaseOption, ProfileOption, active_profile
from cli.table import render

payments_app = typer.Typer(help="Payments tasks: settlement reconciliation.", no_args_is_help=True)

_PATH = "/payments/reconciliations"
_NOT_MATCHED = ("MISMATCHED", "MISSING_IN_MICRO", "MISSING_AT_PROVIDER")
_LABELS = {
    "matched": "matched",
    "mismatched": "mismatched",
    "missing_in_micro": "missing in Micro",
    "missing_at_provider": "missing at the provider",
}


def _usage(message: str) -> typer.Exit:
    typer.echo(f"micro: {message}", err=True)
    return typer.Exit(2)


@payments_app.command("reconcile")
def reconcile(
    provider: Annotated[
        str,
        typer.Option("--provider", help="paystack, flutterwave or simulator.", show_default=False),
    ],
    start: Annotated[
        str,
        typer.Option(
            "--from", help="First day (2026-12-01) or an ISO 8601 timestamp.", show_default=False
        ),
    ],
    end: Annotated[
        str,
        typer.Option(
            "--to", help="Last day, included (or a timestamp, excluded).", show_default=False
        ),
    ],
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="The provider's settlement file instead of its API (columns: type, "
            "reference, provider_id, amount, currency, status, created).",
            show_default=False,
            metavar="FILE",
        ),
    ] = None,
    profile_name: ProfileOption = None,
    api_base: ApiBaseOption = None,
) -> None:
    """Reconcile a provider's settlements for a period (exit 1 if anything is not matched)."""
    body: dict[str, Any] = {"provider": provider, "from": start, "to": end}
    if csv_file is not None:
        try:
            body["csv"] = csv_file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise _usage(f"cannot read {csv_file}: {exc}") from None
    with cli_errors():
        profile = active_profile(profile_name, api_base)
        with Gateway(profile, timeout=120.0) as gateway:
            try:
                report: dict[str, Any] = gateway.post(_PATH, json=body)
            except ApiError as exc:
                if exc.status == 400:
                    raise _usage(exc.message) from None
                raise
            lines = [
                line
                for kind in _NOT_MATCHED
                for line in _lines(gateway, report["id"], kind)
            ] if report.get("status") == "completed" else []  # fmt: skip
    typer.echo(
        f"{report['id']}: {provider} {start} to {end}, {report.get('status')}"
        + (f": {report['failure_message']}" if report.get("failure_message") else "")
    )
    if report.get("status") != "completed":
        raise typer.Exit(1)
    counts: dict[str, int] = report.get("counts") or {}
    typer.echo(", ".join(f"{counts.get(name, 0)} {label}" for name, label in _LABELS.items()))
    if lines:
        typer.echo(render(["KIND", "TYPE", "REFERENCE", "FIELDS", "PROVIDER", "MICRO"], [
            [str(line["kind"]), str(line["object_type"]), str(line["reference"]),
             ",".join(line.get("fields") or []) or "-", _side(line.get("provider")),
             _side(line.get("micro"))]
            for line in lines
        ]))  # fmt: skip
    if any(counts.get(name, 0) for name in _LABELS if name != "matched"):
        raise typer.Exit(1)


def _lines(gateway: Gateway, reconciliation_id: str, kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"kind": kind, "limit": 100}
    while True:
        page: dict[str, Any] = gateway.get(f"{_PATH}/{reconciliation_id}/lines", params=params)
        found += page.get("data", [])
        if not page.get("has_more") or not page.get("data"):
            return found
        params["starting_after"] = page["data"][-1]["id"]


def _side(side: Any) -> str:
    if not isinstance(side, dict) or all(
        side.get(k) is None for k in ("amount", "currency", "status")
    ):
        return "-"
    return " ".join(
        str(side.get(k)) for k in ("amount", "currency", "status") if side.get(k) is not None
    )
