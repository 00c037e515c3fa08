"""The scoring catalogue through the JSON API and the admin page (admin only; 422 with the limits)."""
from __future__ import annotations

from page_client import Browser


def _fine_heavier(admin) -> dict:
    found = admin.get("/api/v1/admin/catalogue?scheme=wendeng&q=处以较重罚款行政处罚的").get_json()
    return next(i for i in found["items"] if i["subject_kinds"] == ["person"])


def test_only_administrators_see_or_change_the_catalogue(api, demo):
    for who in ("reviewer", "window", "auditor", "enterprise"):
        client = api.as_user(who)
        assert client.get("/api/v1/admin/catalogue").status_code == 403
        assert client.post("/api/v1/admin/catalogue", json={}).status_code == 403
        assert client.put("/api/v1/admin/catalogue/1", json={"points": -1}).status_code == 403
    assert api.get("/api/v1/admin/catalogue").status_code == 401


def test_schemes_and_items_are_listed_after_the_demo_seed(api, demo):
    admin = api.as_user("admin")
    schemes = {s["key"]: s for s in admin.get("/api/v1/admin/catalogue/schemes").get_json()["schemes"]}
    assert set(schemes) == {"wendeng", "weihai_haibei", "wendeng_rural"}
    assert schemes["wendeng"]["items"]["add"] >= 100 and schemes["wendeng"]["items"]["deduct"] >= 115
    assert schemes["wendeng"]["grades"][2] == [960, "A", "诚信", "Trustworthy"]
    page = admin.get("/api/v1/admin/catalogue?scheme=wendeng&kind=add&limit=10").get_json()
    assert page["total"] >= 100 and len(page["items"]) == 10 and {i["kind"] for i in page["items"]} == {"add"}
    one = _fine_heavier(admin)
    assert (one["points"], one["category"], one["validity_class"]) == (-20, "行政处罚", "deduction")
    assert admin.get(f"/api/v1/admin/catalogue/{one['id']}").get_json()["code"] == one["code"]
    assert admin.get("/api/v1/admin/catalogue/999999").status_code == 404


def test_create_and_update_with_the_scheme_limits_in_the_422_message(api, demo):
    admin = api.as_user("admin")
    body = {"scheme": "wendeng", "name_zh": "测试扣分事项", "name_en": "Test item", "kind": "deduct",
            "points": -200, "category": "测试", "subject_kinds": ["person"]}
    refused = admin.post("/api/v1/admin/catalogue", json=body)
    assert refused.status_code == 422
    error = refused.get_json()
    assert "-150" in error["message"] and "100" in error["message"]
    assert error["details"]["limits"] == {"points_min": -150, "points_max": 100}
    missing = admin.post("/api/v1/admin/catalogue", json={"scheme": "wendeng"}).get_json()
    assert {"name_zh", "kind", "points", "category", "subject_kinds"} <= set(missing["details"]["fields"])
    created = admin.post("/api/v1/admin/catalogue", json={**body, "points": -15})
    assert created.status_code == 201
    item = created.get_json()
    assert item["code"].startswith("WD-P-D") and item["updated_by"] == "admin"
    too_big = admin.put(f"/api/v1/admin/catalogue/{item['id']}", json={"points": 101, "kind": "add"})
    assert too_big.status_code == 422 and "100" in too_big.get_json()["message"]
    changed = admin.put(f"/api/v1/admin/catalogue/{item['id']}", json={"points": -12, "active": False})
    assert changed.status_code == 200 and (changed.get_json()["points"], changed.get_json()["active"]) == (-12, False)
    assert admin.put(f"/api/v1/admin/catalogue/{item['id']}", json={"code": "WD-P-X"}).status_code == 422
    village = admin.post("/api/v1/admin/catalogue", json={**body, "scheme": "wendeng_rural", "kind": "add",
                                                          "points": 3, "scope": "village"})
    assert village.status_code == 422 and village.get_json()["details"]["limits"] == {"village_item_max_abs": 2}


def test_the_operations_are_in_the_openapi_document(api, demo):
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/admin/catalogue"])
    assert {"get", "put"} <= set(paths["/api/v1/admin/catalogue/{item_id}"])
    assert "get" in paths["/api/v1/admin/catalogue/schemes"]


def test_the_admin_page_lists_and_edits_items(app, api, demo, browser):
    admin = api.as_user("admin")
    one = _fine_heavier(admin)
    browser.login("reviewer")
    assert browser.get("/admin/catalogue").status_code == 403
    browser = Browser(app)
    browser.login("admin")
    page = browser.get("/admin/catalogue?scheme=wendeng&q=行政处罚")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and one["code"] in html and "文登区社会成员信用积分" in html
    edit_url = f"/admin/catalogue?scheme=wendeng&edit={one['id']}"
    assert 'data-testid="edit-item"' in browser.get(edit_url).get_data(as_text=True)
    form = {"name_zh": one["name_zh"], "name_en": one["name_en"], "points": "-200", "points_low": "",
            "points_high": "", "category": one["category"], "validity_class": "deduction", "direct_grade": "",
            "active": "on"}
    bad = browser.post_form(edit_url, f"/admin/catalogue/{one['id']}", form)
    assert bad.status_code == 422 and "-150" in bad.get_data(as_text=True)
    ok = browser.post_form(edit_url, f"/admin/catalogue/{one['id']}", {**form, "points": "-25"})
    assert ok.status_code == 302
    assert admin.get(f"/api/v1/admin/catalogue/{one['id']}").get_json()["points"] == -25
