"""Test clients for the JSON API and the HTML pages.

A plain module (not conftest) so test files can import it by a name that no other
directory shares: `from page_client import Browser, csrf_token_from`.
"""

from __future__ import annotations

import re

from webapp.demo import DEMO_PASSWORD


class Api:
    """A small API client: `api.as_user('enterprise').post('/api/v1/cases', json=...)`."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.token: str | None = None

    def as_user(self, username: str, password: str = DEMO_PASSWORD) -> Api:
        response = self.client.post("/api/v1/auth/token", json={"username": username, "password": password})
        assert response.status_code == 200, response.get_json()
        other = Api(self.app)
        other.token = response.get_json()["token"]
        return other

    def _headers(self, headers=None):
        merged = dict(headers or {})
        if self.token:
            merged["Authorization"] = f"Bearer {self.token}"
        return merged

    def get(self, url, **kw):
        return self.client.get(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, url, **kw):
        return self.client.post(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def put(self, url, **kw):
        return self.client.put(url, headers=self._headers(kw.pop("headers", None)), **kw)


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


class Browser:
    """Drives the HTML pages through the Flask test client, CSRF tokens included."""

    def __init__(self, app):
        self.client = app.test_client()

    def login(self, username: str, password: str = DEMO_PASSWORD):
        page = self.client.get("/login")
        token = csrf_token_from(page.get_data(as_text=True))
        return self.client.post("/login", data={"username": username, "password": password, "csrf_token": token})

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post_form(self, page_url: str, action_url: str, data: dict, **kw):
        """Load `page_url`, take its CSRF token, post `data` to `action_url`."""
        page = self.client.get(page_url)
        token = csrf_token_from(page.get_data(as_text=True))
        return self.client.post(action_url, data={**data, "csrf_token": token}, **kw)
