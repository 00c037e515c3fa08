"""Log in, log out, switch language."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from ..auth import authenticate, current_user, login_session
from ..i18n import t

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never redirect to another host after log-in.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("auth.home")


@bp.get("/")
def home():
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if user.role == "applicant":
        return redirect(url_for("portal.index"))
    if user.role == "admin":
        return redirect(url_for("admin.index"))
    if user.role in ("reviewer", "auditor"):
        return redirect(url_for("review.inbox"))
    # Providers, mediators, trainers and inspectors get their own desks with their case types;
    # until then their messages are what they can use.
    return redirect(url_for("portal.notifications"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        user = authenticate(request.form.get("username", "").strip(), request.form.get("password", ""))
        if user is None:
            flash(t("用户名或密码错误", "Wrong username or password"), "error")
            return render_template("login.html", username=request.form.get("username", "")), 401
        login_session(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", username="")


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/lang/<lang>")
def set_lang(lang: str):
    response = redirect(_safe_next(request.args.get("next") or request.referrer and _path_of(request.referrer)))
    response.set_cookie("lang", "en" if lang == "en" else "zh", max_age=365 * 24 * 3600, samesite="Lax")
    return response


def _path_of(url: str) -> str:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return parsed.path + (f"?{parsed.query}" if parsed.query else "")
