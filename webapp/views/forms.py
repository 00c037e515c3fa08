"""One declaration serves HTML and API: describe a marshmallow step schema as form fields, and turn
a submitted HTML form back into the input the schema loads."""
from __future__ import annotations

from marshmallow import Schema, fields
from werkzeug.datastructures import MultiDict


def _field_type(field: fields.Field) -> str:
    if isinstance(field, fields.Boolean):
        return "boolean"
    if isinstance(field, fields.Integer):
        return "integer"
    if isinstance(field, fields.Date):
        return "date"
    if isinstance(field, fields.List):
        return "array"
    return "string"


def describe_schema(schema_cls: type[Schema]) -> list[dict]:
    schema = schema_cls()
    described = []
    for name, field in schema.load_fields.items():
        meta = field.metadata or {}
        kind = _field_type(field)
        widget = meta.get("widget") or {"boolean": "checkbox", "date": "date", "array": "checkboxes"}.get(kind, "text")
        described.append({
            "name": name,
            "type": kind,
            "required": field.required,
            "label_zh": meta.get("label_zh", name),
            "label_en": meta.get("label_en", name),
            "widget": widget,
            "choices": [{"value": v, "label_zh": zh, "label_en": en} for v, zh, en in meta.get("choices", ())],
        })
    return described


def form_to_data(schema_cls: type[Schema] | None, form: MultiDict) -> dict:
    """HTML forms send strings; checkboxes send nothing when unticked. Rebuild what the API would send."""
    if schema_cls is None:
        return {}
    data: dict = {}
    for spec in describe_schema(schema_cls):
        name = spec["name"]
        if spec["type"] == "array":
            data[name] = form.getlist(name)
        elif spec["type"] == "boolean":
            data[name] = form.get(name) in ("on", "true", "1", "yes")
        elif name in form and (form.get(name) != "" or spec["required"]):
            data[name] = form.get(name)
    return data
