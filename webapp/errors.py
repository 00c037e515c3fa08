"""The one place that maps errors to HTTP: JSON `{"error", "message", "details"}` under /api,
an HTML page (in the visitor's language) elsewhere."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from workflows.calendar import CalendarYearNotLoaded
from workflows.errors import WorkflowError

HTTP_MESSAGES = {
    400: ("请求有误", "Bad request"),
    401: ("需要登录", "Authentication required"),
    403: ("无权访问", "Forbidden"),
    404: ("页面或资源不存在", "Not found"),
    405: ("不支持的请求方法", "Method not allowed"),
    409: ("操作冲突", "Conflict"),
    413: ("上传的文件过大", "Upload too large"),
    422: ("输入有误", "Invalid input"),
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, details=None):
    if wants_json():
        response = jsonify({"error": code, "message": message, "details": details or {}})
        response.status_code = status
        return response
    return render_template("error.html", status=status, code=code, message=message, details=details or {}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(WorkflowError)
    def workflow_error(exc: WorkflowError):
        return error_response(exc.http_status, exc.code, exc.message, exc.details)

    @app.errorhandler(CalendarYearNotLoaded)
    def calendar_year_missing(exc: CalendarYearNotLoaded):
        return error_response(422, CalendarYearNotLoaded.code, str(exc), {"year": exc.year})

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(400, "csrf_failed",
                              "表单已失效或缺少安全令牌，请刷新页面后重试 / The form's CSRF token is missing or "
                              "expired; reload the page and try again", {"reason": exc.description})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        zh, en = HTTP_MESSAGES.get(status, ("出错了", exc.name))
        return error_response(status, exc.name.lower().replace(" ", "_"), f"{zh} / {en}",
                              {"description": exc.description} if status not in (404,) else {})
