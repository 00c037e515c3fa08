"""Field types shared by every step schema: USCC, ID number, bilingual labels for generated forms.

Form rendering reads `metadata`: label_zh, label_en, help_zh, help_en, widget (textarea, checkbox,
checkboxes, date, select, hidden) and, for choice fields, `choices` as (value, zh, en) triples.
"""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(value: str) -> str | None:
    """Why `value` is not a valid 统一社会信用代码 (GB 32100-2015), or None."""
    if len(value) != 18:
        return "统一社会信用代码应为18位 / A USCC has 18 characters"
    bad = [c for c in value if c not in USCC_ALPHABET]
    if bad:
        return f"统一社会信用代码含非法字符 {''.join(bad)} / invalid characters in the USCC: {''.join(bad)}"
    if uscc_check_char(value[:17]) != value[17]:
        return "统一社会信用代码校验位错误 / the USCC check character is wrong"
    return None


def id_check_char(first17: str) -> str:
    return ID_CHECK[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def id_number_problem(value: str) -> str | None:
    """Why `value` is not a valid 18-digit 居民身份证号码 (GB 11643-1999), or None."""
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in "0123456789X":
        return "身份证号码应为17位数字加1位校验码 / an ID number is 17 digits and a check character"
    if id_check_char(value[:17]) != value[17]:
        return "身份证号码校验位错误 / the ID number check character is wrong"
    return None


class USCC(fields.String):
    def _deserialize(self, value: Any, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        problem = uscc_problem(text)
        if problem:
            raise ValidationError(problem)
        return text


class IDNumber(fields.String):
    def _deserialize(self, value: Any, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        problem = id_number_problem(text)
        if problem:
            raise ValidationError(problem)
        return text


def label(zh: str, en: str, **extra: Any) -> dict[str, Any]:
    return {"label_zh": zh, "label_en": en, **extra}


REQUIRED = {"required": "必填 / Required", "null": "必填 / Required"}


def text(zh: str, en: str, *, required: bool = True, min_len: int = 0, max_len: int = 2000, **extra: Any):
    validators = [validate.Length(min=max(min_len, 1 if required else 0), max=max_len,
                                  error=f"长度应在{max(min_len, 1 if required else 0)}到{max_len}之间 / "
                                        f"length must be {max(min_len, 1 if required else 0)}-{max_len}")]
    optional = {} if required else {"load_default": ""}
    return fields.String(
        required=required,
        **optional,
        validate=validators,
        error_messages=REQUIRED,
        metadata=label(zh, en, **extra),
    )


def reason(zh: str = "理由", en: str = "Reason", *, required: bool = True):
    return text(zh, en, required=required, min_len=2 if required else 0, widget="textarea")
