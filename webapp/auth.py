"""Log-in for pages (session cookie) and the API (bearer tokens signed with SECRET_KEY)."""
from __future__ import annotations

from functools import wraps

from flask import current_app, g, redirect, request, session, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from models import User, db
from workflows.errors import WorkflowError

TOKEN_MAX_AGE = 12 * 3600


class Unauthorized(WorkflowError):
    code = "unauthorized"
    http_status = 401


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="creditdesk-api-token")


def issue_token(user: User) -> str:
    return _serializer().dumps({"uid": user.id, "gen": user.token_generation})


def user_from_token(token: str) -> User:
    try:
        data = _serializer().loads(token, max_age=TOKEN_MAX_AGE)
    except SignatureExpired as exc:
        raise Unauthorized("令牌已过期，请重新登录 / The token has expired; log in again") from exc
    except BadSignature as exc:
        raise Unauthorized("令牌无效 / Invalid token") from exc
    user = db.session.get(User, data.get("uid"))
    if user is None or not user.active or user.token_generation != data.get("gen"):
        raise Unauthorized("令牌无效 / Invalid token")
    return user


def authenticate(username: str, password: str) -> User | None:
    user = db.session.execute(db.select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active or not user.check_password(password):
        return None
    return user


def current_user() -> User | None:
    if "user" in g:
        return g.user
    user = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = user_from_token(header[7:].strip())
    elif session.get("uid"):
        candidate = db.session.get(User, session["uid"])
        if candidate is not None and candidate.active and candidate.token_generation == session.get("gen"):
            user = candidate
    g.user = user
    return user


def login_session(user: User) -> None:
    session.clear()
    session["uid"] = user.id
    session["gen"] = user.token_generation
    session.permanent = True


def require_api_user() -> User:
    # The API is CSRF-exempt, so it must never accept the browser's session cookie: bearer only.
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        raise Unauthorized("请先登录：Authorization: Bearer <token> / Authentication required")
    user = current_user()
    if user is None:
        raise Unauthorized("请先登录：Authorization: Bearer <token> / Authentication required")
    return user


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped
