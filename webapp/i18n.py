"""Chinese first, English available. `t(zh, en)` picks by the visitor's choice (?lang=en, cookie)."""
from __future__ import annotations

from flask import g, request

LANGS = ("zh", "en")


def current_lang() -> str:
    lang = getattr(g, "lang", None)
    if lang:
        return lang
    lang = request.args.get("lang") or request.cookies.get("lang") or "zh"
    g.lang = lang if lang in LANGS else "zh"
    return g.lang


def t(zh: str, en: str) -> str:
    return en if current_lang() == "en" else zh


def pick(obj, base: str) -> str:
    """`pick(state, 'label')` → state.label_zh or state.label_en; works for dicts too."""
    suffix = "_en" if current_lang() == "en" else "_zh"
    if isinstance(obj, dict):
        return obj.get(base + suffix) or obj.get(base + "_zh") or ""
    return getattr(obj, base + suffix, "") or getattr(obj, base + "_zh", "")


def bilingual(text: str) -> str:
    """Messages stored as 'Chinese / English': show the half for the current language."""
    if " / " not in text:
        return text
    zh, en = text.split(" / ", 1)
    return en if current_lang() == "en" else zh
