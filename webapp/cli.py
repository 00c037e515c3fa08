"""The `creditdesk` command. Every command builds the app from the environment (see webapp.config)
and owns its transaction."""
from __future__ import annotations

import sys
import threading

from datetime import date, datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from models import Department, Role, Subject, User, db
from notifications.outbox import relay_pending
from workflows.calendar import parse_year_file
from workflows.calendar_store import store_year, year_summary
from workflows.clock import BEIJING
from workflows.ledger import verify_all
from workflows.sweep import sweep

from .runtime import current_runtime
from .views.common import commit


def _create_app() -> Flask:
    from . import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """信用案件办理系统 / The credit case desk."""


def register_cli(app: Flask) -> None:
    for command in (init_db, seed_demo_command, serve, sweep_command, simulate, verify_ledger, users, calendar):
        app.cli.add_command(command)
    app.cli.add_command(scores)
    app.cli.add_command(catalogue)
    from .cli_production import doctor, prefect_group  # production run mode: Prefect deployments, doctor

    app.cli.add_command(prefect_group)
    app.cli.add_command(doctor)


def ensure_schema() -> None:
    db.create_all()


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the database tables (idempotent)."""
    ensure_schema()
    click.echo(f"数据库已就绪 / database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Load demo departments, accounts, subjects and records (once)."""
    from .demo import seed_demo

    ensure_schema()
    result = seed_demo(current_runtime())
    commit()
    _print_demo(result)


def _print_demo(result: dict) -> None:
    from .demo import DEMO_PASSWORD, USERS

    if not result.get("created"):
        click.echo("演示数据已存在 / demo data already present")
    click.echo("演示账号（密码均为 %s） / demo accounts (password %s):" % (DEMO_PASSWORD, DEMO_PASSWORD))
    for username, role, dept, name, _email in USERS:
        click.echo(f"  {username:<11} {role.value:<10} {dept or '':<18} {name}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo/--no-demo", default=True, show_default=True, help="Seed demo data when the database is empty")
@click.option("--threads", default=8, show_default=True, type=int)
@with_appcontext
def serve(host: str, port: int, demo: bool, threads: int) -> None:
    """Run the embedded default: web server, in-process notifications and deadline sweeper."""
    from waitress import serve as waitress_serve

    from .demo import seed_demo

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ensure_schema()
    if demo:
        result = seed_demo(current_runtime())
        commit()
        _print_demo(result)
    interval = int(app.config["SWEEP_INTERVAL"])
    stop = threading.Event()
    thread = threading.Thread(target=_sweeper_loop, args=(app, interval, stop), name="sweeper", daemon=True)
    thread.start()
    click.echo(f"数据库 / database: {db.engine.url.render_as_string(hide_password=True)}")
    click.echo(f"时钟 / clock: {current_app.config['CREDITDESK_CLOCK']}  "
               f"现在 / now: {current_runtime().clock.now().astimezone(BEIJING):%Y-%m-%d %H:%M}")
    click.echo(f"期限巡检每 {interval} 秒一次 / deadline sweep every {interval} s (in-process)")
    click.echo(f"打开 / open http://{host}:{port}/  (Ctrl+C 退出 / to stop)")
    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="creditdesk")
    finally:
        stop.set()


def run_sweep_once(app: Flask) -> dict:
    with app.app_context():
        runtime = current_runtime()
        result = sweep(db.session, runtime, commit=commit)
        relayed = relay_pending(db.session, runtime.clock.now())
        scores = recompute_scores_once(runtime, result.errors)  # stored scores follow the day's changes
        return {"fired": result.fired, "claimed": result.claimed, "reminders": result.reminders,
                "escalations": result.escalations, "relayed": relayed, "errors": result.errors, "scores": scores}


def recompute_scores_once(runtime, errors: list[str], mode: str = "incremental") -> dict:
    """Recompute stored scores in a transaction of their own (workflows.score_recompute)."""
    from workflows.score_recompute import recompute

    try:
        stats = recompute(db.session, runtime, mode=mode)
        commit()
    except Exception as exc:  # noqa: BLE001 - the sweep is committed; the next run retries the scores
        db.session.rollback()
        errors.append(f"score recompute: {exc}")
        return {}
    return stats.as_dict()


def _sweeper_loop(app: Flask, interval: int, stop: threading.Event) -> None:
    while not stop.wait(interval):
        try:
            result = run_sweep_once(app)
            if result["claimed"]:
                app.logger.info("sweep: %s", result)
        except Exception:  # noqa: BLE001 - keep sweeping; the next minute retries
            app.logger.exception("sweep failed")


@click.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Run one deadline sweep now (reminders, expiries, escalations) and relay pending messages."""
    ensure_schema()
    result = run_sweep_once(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo("期限巡检 / sweep: 处理 claimed={claimed} 触发 fired={fired} 提醒 reminders={reminders} "
               "督办 escalations={escalations} 补发 relayed={relayed}".format(**result))
    for error in result["errors"]:
        click.echo(f"  错误 / error: {error}", err=True)


@click.command("simulate")
@click.option("--until", "until", required=True, help="YYYY-MM-DD: advance the clock day by day to this date")
@with_appcontext
def simulate(until: str) -> None:
    """Advance the clock day by day, running the sweep each day (needs an adjustable or fixed clock)."""
    runtime = current_runtime()
    clock = runtime.clock
    if not hasattr(clock, "set"):
        raise click.UsageError("simulate 需要可调时钟：CREDITDESK_CLOCK=adjustable 或固定时间 / simulate needs "
                               "CREDITDESK_CLOCK=adjustable or a fixed ISO time")
    target = date.fromisoformat(until)
    day = runtime.today()
    if target <= day:
        raise click.UsageError(f"目标日期须晚于当前日期 {day} / --until must be after today ({day})")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    total_days = (target - day).days
    with click.progressbar(length=total_days, label="模拟 / simulating", file=sys.stderr) as bar:
        while day < target:
            day += timedelta(days=1)
            clock.set(datetime(day.year, day.month, day.day, 9, 0, tzinfo=BEIJING))
            result = run_sweep_once(app)
            if result["claimed"]:
                click.echo(f"\n{day}: fired={result['fired']} reminders={result['reminders']} "
                           f"escalations={result['escalations']}")
            bar.update(1)
    click.echo(f"现在 / now: {runtime.clock.now().astimezone(BEIJING):%Y-%m-%d %H:%M}")


@click.command("verify-ledger")
@with_appcontext
def verify_ledger() -> None:
    """Check every case's hash chain and that each case's state matches its ledger."""
    with click.progressbar(length=1, label="校验 / verifying", file=sys.stderr) as bar:
        def progress(done, total):
            bar.length = max(total, 1)
            bar.update(1)

        checked, problems = verify_all(db.session, progress)
    for problem in problems:
        click.echo(f"案件 / case {problem.case_id} 事件 / event {problem.seq}: {problem.problem}", err=True)
    click.echo(f"已校验 {checked} 个案件，发现 {len(problems)} 处问题 / checked {checked} cases, {len(problems)} problems")
    if problems:
        sys.exit(1)


@click.group("users")
def users() -> None:
    """Manage accounts."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--department", default=None, help="department code, e.g. credit-center")
@click.option("--subject", "subjects", multiple=True, help="USCC, ID number or subject id the user acts for")
@click.option("--email", default=None)
@click.option("--name", default="")
@with_appcontext
def users_create(username, password, role, department, subjects, email, name) -> None:
    ensure_schema()
    if db.session.execute(db.select(User).where(User.username == username)).scalar():
        raise click.UsageError(f"用户名已存在 / username exists: {username}")
    if len(password) < 8:
        raise click.UsageError("密码至少8位 / the password needs at least 8 characters")
    dept = None
    if department:
        dept = db.session.execute(db.select(Department).where(Department.code == department)).scalar()
        if dept is None:
            raise click.UsageError(f"未知的部门 / unknown department: {department}")
    if role == Role.REVIEWER and dept is None:
        raise click.UsageError("审核员须指定部门 --department / a reviewer needs --department")
    linked = []
    for ref in subjects:
        subject = db.session.execute(db.select(Subject).where(
            (Subject.uscc == ref.upper()) | (Subject.id_number == ref.upper()) |
            (Subject.id == (int(ref) if ref.isdigit() and len(ref) < 10 else -1)))).scalar()
        if subject is None:
            raise click.UsageError(f"未找到主体 / no such subject: {ref}")
        linked.append(subject)
    user = User(username=username, role=role, department=dept, email=email, display_name=name,
                created_at=current_runtime().clock.now())
    user.set_password(password)
    user.subjects = linked
    db.session.add(user)
    commit()
    click.echo(f"已创建 / created {username} ({role})")


@click.group("calendar")
def calendar() -> None:
    """Holiday tables (the statutory calendar)."""


@calendar.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def calendar_load(path: str) -> None:
    """Load or replace one year's holiday table from a JSON file (see docs/calendar.md)."""
    ensure_schema()
    with open(path, encoding="utf-8") as fh:
        try:
            table = parse_year_file(fh.read(), path)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    store_year(db.session, table, loaded_by="cli", now=current_runtime().clock.now())
    commit()
    click.echo(f"已加载 {table.year} 年：放假 {len(table.rest_days)} 天，调休上班 {len(table.makeup_workdays)} 天 / "
               f"loaded {table.year}: {len(table.rest_days)} rest days, {len(table.makeup_workdays)} make-up days")


@calendar.command("show")
@click.argument("year", type=int)
@with_appcontext
def calendar_show(year: int) -> None:
    """Print one year's rest days and make-up working days."""
    from workflows.calendar import CalendarYearNotLoaded

    ensure_schema()
    try:
        summary = year_summary(current_runtime().calendar(), year)
    except CalendarYearNotLoaded as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{year} 来源 / source: {summary['source']} {summary['source_notice']}")
    click.echo("放假 / rest days: " + ", ".join(summary["rest_days"]))
    click.echo("调休上班 / make-up working days: " + ", ".join(summary["makeup_workdays"]))


@click.group("scores")
def scores() -> None:
    """Stored scores and their snapshots."""


@scores.command("recompute")
@click.option("--full", is_flag=True, help="Every subject (default: the changed ones and today's expiries)")
@with_appcontext
def scores_recompute(full: bool) -> None:
    """Recompute stored scores set-based and write snapshots where a score or grade changed."""
    ensure_schema()
    errors: list[str] = []
    stats = recompute_scores_once(current_runtime(), errors, mode="full" if full else "incremental")
    for error in errors:
        raise click.ClickException(error)
    click.echo("积分重算 / scores recomputed ({mode}, {as_of}): 主体 subjects={subjects} 变更 changed={changed} "
               "快照 snapshots={snapshots} 用时 {seconds}s".format(**stats))


@click.group("catalogue")
def catalogue() -> None:
    """Scoring schemes and their item catalogues (DOMAIN.md §8)."""


@catalogue.command("load")
@with_appcontext
def catalogue_load() -> None:
    """Load the shipped schemes and catalogues (idempotent: existing rows and edits are kept)."""
    from workflows.catalogue import load_builtin_schemes

    ensure_schema()
    result = load_builtin_schemes(db.session, now=current_runtime().clock.now())
    commit()
    for key, counts in result.items():
        click.echo(f"{key}: 方案{'新建' if counts['scheme'] else '已存在'}，新增事项 {counts['items']} 条 / "
                   f"scheme {'created' if counts['scheme'] else 'kept'}, {counts['items']} items added")
