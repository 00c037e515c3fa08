"""The production run mode's commands: `creditdesk prefect deploy|serve` and `creditdesk doctor`.

Registered by webapp.cli.register_cli. Prefect is imported only inside the prefect commands (it
takes seconds to import and is not needed by the web or the worker processes).
"""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group("prefect")
def prefect_group() -> None:
    """Prefect deployments of the flows (needs PREFECT_API_URL)."""


@prefect_group.command("deploy")
def prefect_deploy() -> None:
    """Create or update every deployment with its schedule on the Prefect server."""
    from workflows.flows.deployments import PrefectNotConfigured, deploy

    try:
        deploy(echo=click.echo)
    except PrefectNotConfigured as exc:
        raise click.ClickException(str(exc)) from exc


@prefect_group.command("serve")
def prefect_serve() -> None:
    """Register the deployments and run their flow runs until stopped (the Prefect worker process)."""
    from workflows.flows.deployments import PrefectNotConfigured, serve

    try:
        serve()
    except PrefectNotConfigured as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("doctor")
@click.option("--workers", "ping_workers", is_flag=True,
              help="Also ask the Celery workers to answer a ping (a broadcast on the broker)")
@click.option("--timeout", default=3.0, show_default=True, type=float, help="Seconds to wait for each service")
@with_appcontext
def doctor(ping_workers: bool, timeout: float) -> None:
    """Check every configured service and say what is wrong (exit 1 if a check failed)."""
    from .doctor import FAIL, format_checks, run_checks

    checks = run_checks(current_app._get_current_object(), timeout=timeout,  # type: ignore[attr-defined]
                        ping_workers=ping_workers)
    click.echo("creditdesk doctor — 服务自检 / service check")
    for line in format_checks(checks):
        click.echo(line)
    sys.exit(1 if any(c.status == FAIL for c in checks) else 0)
