"""Scoring schemes as data and the score engine (DOMAIN.md §8, §3.8, scenario S15).

Items are built through `resolve_new_item`/`record_item`, so repeat doubling and validity come
from the engine, not from the test."""
from __future__ import annotations

from datetime import date

import pytest

from models import CatalogueItem, CreditRecord, RecordStatus, ScoringScheme, Subject, db
from workflows.catalogue import create_item, load_builtin_schemes, scheme_for, update_item, validate_item
from workflows.errors import InvalidInput, NotFound
from workflows.scoring import (DEFAULT_SCHEME, ItemSpec, apply_repair, builtin_scheme, builtin_scheme_data,
                               end_continuing_act, grade_before_drop, mirror_to_legal_representative, record_item,
                               resolve_new_item, revoke_repair_replacement, rural_district_link_points, rural_stars, rural_year_end_bonus,
                               rural_year_end_bonus_item, score_at)

WD, HB, WR = builtin_scheme("wendeng"), builtin_scheme("weihai_haibei"), builtin_scheme("wendeng_rural")


def item(name_zh: str, scheme: str = "wendeng", who: str = "person") -> dict:
    """The seed row with this Chinese name for persons or organisations."""
    rows = [i for i in builtin_scheme_data(scheme)["items"] if i["name_zh"] == name_zh and who in i["subject_kinds"]]
    assert len(rows) == 1, (name_zh, rows)
    return rows[0]


FINE_HEAVIER = "处以较重罚款行政处罚的"
WARNING = "处以警告行政处罚的"
FINE_HIGH = "处以高限罚款行政处罚的"
BLOOD = "无偿献血的（每次）"
COURT_LIST = "被法院列为失信被执行人名单的"
ORG_COURT_LIST = "被列入失信被执行人名单的"


_ids = iter(range(100000, 999999))


def person(name: str = "张某") -> Subject:
    number = f"371081198503{next(_ids):06d}"
    subject = Subject(kind="natural_person", name=name, id_number=number)
    db.session.add(subject)
    db.session.flush()
    return subject


def company(name: str = "示范公司", rep: Subject | None = None) -> Subject:
    subject = Subject(kind="legal_person", name=name, uscc=f"91371081MA{next(_ids):08d}",
                      legal_rep_subject_id=rep.id if rep else None)
    db.session.add(subject)
    db.session.flush()
    return subject


def add(subject, row, on, scheme=None, **kw) -> CreditRecord:
    record, _mirror = record_item(db.session, subject, row, on, scheme, **kw)
    return record


def at(subject, on, scheme=None):
    db.session.expire(subject, ["records"])
    return score_at(subject.records, on, scheme=scheme)


# --- S15: the 文登 score lifecycle of 张某 --------------------------------------------------------

def test_s15_score_lifecycle_with_every_date_and_grade(ctx):
    zhang = person()
    assert (at(zhang, date(2026, 3, 1)).score, at(zhang, date(2026, 3, 1)).grade) == (1000, "A")

    first = add(zhang, item(FINE_HEAVIER), date(2026, 3, 2))
    assert (first.points, first.valid_until) == (-20, date(2027, 3, 2))
    s = at(zhang, date(2026, 3, 2))
    assert (s.score, s.grade) == (980, "A")

    again = add(zhang, item(FINE_HEAVIER), date(2026, 6, 15))
    assert (again.points, again.valid_until) == (-40, date(2027, 6, 15))  # doubled; −40 is still ≤40 → 1 Y
    assert "#%d" % first.id in again.description
    s = at(zhang, date(2026, 6, 15))
    assert (s.score, s.grade) == (940, "B")

    blood = add(zhang, item(BLOOD), date(2026, 7, 1))
    assert (blood.points, blood.valid_until) == (10, date(2027, 7, 1))
    s = at(zhang, date(2026, 7, 1))
    assert (s.score, s.grade) == (950, "B")

    listed = add(zhang, item(COURT_LIST), date(2026, 8, 3))
    assert (listed.points, listed.direct_grade, listed.valid_until) == (0, "D", date(2031, 8, 3))
    assert at(zhang, date(2026, 8, 2)).score == 950
    s = at(zhang, date(2026, 8, 3))
    assert (s.score, s.grade, s.grade_display, s.direct_grade) == (599, "D", "DB", "D")
    assert s.frozen_points == 10 and s.ceiling == 599
    assert [i["counted"] for i in s.items if i["record_id"] == blood.id] == [False]
    assert at(zhang, date(2026, 10, 11)).grade_display == "DB"

    replacement = apply_repair(db.session, listed, date(2026, 10, 12))
    db.session.flush()
    assert (replacement.points, replacement.direct_grade, replacement.valid_until) == (-50, None, date(2028, 10, 12))
    assert listed.status == RecordStatus.REPAIRED
    s = at(zhang, date(2026, 10, 12))
    assert (s.score, s.grade, s.frozen_points) == (900, "B", 0)  # 1000−20−40+10−50, bonus counts again

    expected = [
        (date(2027, 3, 2), 900, "B"), (date(2027, 3, 3), 920, "B"),    # −20 expired after 2027-03-02
        (date(2027, 6, 15), 920, "B"), (date(2027, 6, 16), 960, "A"),  # −40 expired after 2027-06-15
        (date(2027, 7, 1), 960, "A"), (date(2027, 7, 2), 950, "B"),    # +10 expired after 2027-07-01
        (date(2028, 10, 12), 950, "B"), (date(2028, 10, 13), 1000, "A"),  # −50 expired after 2028-10-12
    ]
    assert [(d, at(zhang, d).score, at(zhang, d).grade) for d, _s, _g in expected] == expected


# --- grade tables: both sides of every cut-off ------------------------------------------------

BOUNDARIES = {
    "wendeng": [(1050, "AAA"), (1049, "AA"), (1030, "AA"), (1029, "A"), (960, "A"), (959, "B"), (850, "B"),
                (849, "C"), (600, "C"), (599, "D")],
    "weihai_haibei": [(1150, "AAA"), (1149, "AA"), (1050, "AA"), (1049, "A"), (1000, "A"), (999, "B"), (950, "B"),
                      (949, "C"), (801, "C"), (800, "D")],
    "wendeng_rural": [(1061, "S5"), (1060, "S4"), (1041, "S4"), (1040, "S3"), (1021, "S3"), (1020, "S2"),
                      (991, "S2"), (990, "S1"), (801, "S1"), (800, "S0")],
}


@pytest.mark.parametrize("key", sorted(BOUNDARIES))
def test_grade_boundaries_include_the_number_itself(key):
    scheme = builtin_scheme(key)
    got = []
    for score, _grade in BOUNDARIES[key]:
        points = score - scheme.base
        record = CreditRecord(id=1, subject_id=1, kind="positive" if points > 0 else "dishonesty", severity="general",
                              title="t", points=points, decided_on=date(2026, 1, 5), valid_until=date(2026, 12, 31),
                              status=RecordStatus.ACTIVE, item_code=f"{scheme.code_prefix}-TEST")
        result = score_at([record], date(2026, 6, 1), scheme=scheme)
        got.append((result.score, result.grade))
    assert got == BOUNDARIES[key]


def test_every_lower_bound_of_every_scheme_is_covered():
    for key, rows in BOUNDARIES.items():
        lows = {g.lowest for g in builtin_scheme(key).grades if g.lowest is not None}
        assert lows <= {score for score, _g in rows} and {score + 1 for score, _g in rows} >= lows


def test_items_of_another_scheme_do_not_count_and_uncoded_items_belong_to_the_default():
    records = [CreditRecord(id=1, subject_id=1, kind="dishonesty", severity="general", title="HB", points=-60,
                            decided_on=date(2026, 1, 5), valid_until=date(2028, 1, 5), status="active",
                            item_code="HB-P-D005"),
               CreditRecord(id=2, subject_id=1, kind="dishonesty", severity="general", title="legacy", points=-20,
                            decided_on=date(2026, 1, 5), valid_until=date(2027, 1, 5), status="active")]
    assert score_at(records, date(2026, 2, 1)).score == 980
    assert score_at(records, date(2026, 2, 1), scheme=HB).score == 940
    assert DEFAULT_SCHEME.key == "wendeng" and DEFAULT_SCHEME.grades[0][:2] == (1050, "AAA")


# --- repeats, validity, the continuing act -----------------------------------------------------

def test_repeat_doubles_the_earlier_value_each_time_within_validity(ctx):
    p = person()
    values = [add(p, item(FINE_HEAVIER), d).points for d in (date(2026, 1, 5), date(2026, 2, 5), date(2026, 3, 5))]
    assert values == [-20, -40, -80]
    third = db.session.execute(db.select(CreditRecord).where(CreditRecord.points == -80)).scalar_one()
    assert third.valid_until == date(2028, 3, 5)  # −80 > 40 → 2 Y


def test_no_doubling_after_the_earlier_deduction_expired_or_in_another_category(ctx):
    p = person()
    add(p, item(FINE_HEAVIER), date(2026, 1, 5))                   # valid until 2027-01-05
    assert add(p, item(FINE_HEAVIER), date(2027, 1, 6)).points == -20
    q = person("李某")
    add(q, item(FINE_HEAVIER), date(2026, 1, 5))
    assert add(q, item("有欠税记录的"), date(2026, 2, 5)).points == -20  # 涉税事项, not 行政处罚


def test_a_repeat_never_deducts_less_than_its_own_value(ctx):
    p = person()
    add(p, item(WARNING), date(2026, 1, 5))                        # −5, 行政处罚
    assert add(p, item(FINE_HIGH), date(2026, 2, 5)).points == -40  # double −5 is −10: its own −40 stands


def test_a_repaired_or_revoked_earlier_deduction_is_not_repeated(ctx):
    p = person()
    earlier = add(p, item(FINE_HEAVIER), date(2026, 1, 5))
    earlier.status = RecordStatus.REVOKED
    db.session.flush()
    assert add(p, item(FINE_HEAVIER), date(2026, 2, 5)).points == -20


def test_the_haibei_scheme_has_no_repeat_rule_and_its_own_validity(ctx):
    p = person()
    penalty = item("食品安全、环境保护、公共安全、城市管理、市场秩序等领域行政处罚（一般）", "weihai_haibei")
    first, second = add(p, penalty, date(2026, 1, 5), HB), add(p, penalty, date(2026, 2, 5), HB)
    assert (first.points, second.points, first.valid_until) == (-20, -20, date(2029, 1, 5))  # bad info 3 Y
    good = add(p, item("经认定的见义勇为", "weihai_haibei"), date(2026, 1, 5), HB)
    assert good.valid_until == date(2031, 1, 5)                                             # good info 5 Y
    s = at(p, date(2026, 3, 1), HB)
    assert (s.score, s.grade, s.scheme) == (1000, "A", "weihai_haibei")
    assert at(p, date(2026, 3, 1)).score == 1000  # none of them counts in the 文登 district score


@pytest.mark.parametrize(("name", "who", "years"), [
    ("酒后驾驶的", "person", 2), ("受到行政拘留的", "person", 3), (COURT_LIST, "person", 5),
    ("处以高限罚款行政处罚的", "person", 1), ("未履行发生效力的较重罚款行政处罚的", "person", 2),
    ("受到国家级表彰奖励的", "person", 5), ("受到省部级表彰奖励的", "person", 3), ("受到地市级表彰奖励的", "person", 2),
    ("受到区级部门表彰奖励的", "person", 1), (BLOOD, "person", 1), ("被列入企业经营异常名录的", "organisation", 2),
])
def test_validity_by_direct_grade_size_of_deduction_and_honour_level(ctx, name, who, years):
    subject = person() if who == "person" else company()
    record = add(subject, item(name, who=who), date(2026, 3, 2))
    assert record.valid_until == date(2026 + years, 3, 2)


def test_continuing_act_validity_runs_from_the_end_of_the_act(ctx):
    p = person()
    ongoing = add(p, item("违法建设拒不拆除的"), date(2026, 3, 2), continuing=True)
    assert ongoing.valid_until is None and at(p, date(2035, 1, 1)).grade == "B"
    end_continuing_act(ongoing, date(2026, 9, 30))
    assert (ongoing.act_ended_on, ongoing.valid_until) == (date(2026, 9, 30), date(2028, 9, 30))
    ended_later = resolve_new_item(db.session, p, item(FINE_HEAVIER), date(2026, 3, 2), act_ended_on=date(2026, 5, 1))
    assert ended_later.valid_until == date(2027, 5, 1)
    # Entered late: validity still runs from the decision, not from the day it was typed in.
    late = resolve_new_item(db.session, p, item("有欠税记录的"), date(2025, 1, 10))
    assert late.valid_until == date(2026, 1, 10)


def test_range_items_accept_points_inside_their_range_only(ctx):
    p = person()
    other = item("其他在商务服务领域的失信行为，视情节减分")
    assert resolve_new_item(db.session, p, other, date(2026, 3, 2), points=-25).points == -25
    with pytest.raises(InvalidInput) as exc:
        resolve_new_item(db.session, p, other, date(2026, 3, 2), points=-31)
    assert exc.value.details["points_low"] == -30
    with pytest.raises(InvalidInput):
        resolve_new_item(db.session, p, item(FINE_HEAVIER), date(2026, 3, 2), points=-25)


def test_an_item_for_organisations_is_refused_for_a_person(ctx):
    with pytest.raises(InvalidInput) as exc:
        resolve_new_item(db.session, person(), item("被列入企业经营异常名录的", who="organisation"), date(2026, 3, 2))
    assert "不适用" in exc.value.message and exc.value.details["subject_kinds"] == ["organisation"]


# --- bonus freeze, floors, D labels ----------------------------------------------------------

def test_bonus_freeze_holds_while_the_direct_grade_stands_and_ends_with_it(ctx):
    p = person()
    add(p, item("酒后驾驶的"), date(2026, 1, 5))                   # direct B until 2028-01-05
    add(p, item("受到国家级表彰奖励的"), date(2026, 2, 1))           # +100, national: 5 Y
    frozen = at(p, date(2026, 3, 1))
    assert (frozen.score, frozen.grade, frozen.frozen_points) == (850, "B", 100)
    thawed = at(p, date(2028, 1, 6))
    assert (thawed.score, thawed.grade, thawed.frozen_points) == (1100, "AAA", 0)


@pytest.mark.parametrize(("name", "score", "grade"), [("酒后驾驶的", 850, "B"), ("受到行政拘留的", 600, "C"),
                                                      (COURT_LIST, 599, "D")])
def test_a_direct_grade_sets_the_score_to_its_floor(ctx, name, score, grade):
    p = person()
    add(p, item(name), date(2026, 1, 5))
    s = at(p, date(2026, 1, 5))
    assert (s.score, s.grade) == (score, grade)


def test_a_lower_score_stays_below_the_floor(ctx):
    p = person()
    add(p, item("受到降级处分的"), date(2026, 1, 5))                 # −100
    add(p, item("受到留党察看处分的"), date(2026, 1, 6))             # −150
    add(p, item("酒后驾驶的"), date(2026, 1, 7))
    assert (at(p, date(2026, 1, 7)).score, at(p, date(2026, 1, 7)).grade) == (750, "C")


@pytest.mark.parametrize(("before", "label"), [([], "DA"), (["受到降级处分的", "受到留党察看处分的"], "DC")])
def test_d_is_labelled_by_the_grade_held_before_the_drop(ctx, before, label):
    p = person()
    for day, name in enumerate(before, start=1):
        add(p, item(name), date(2026, 1, day))
    add(p, item(COURT_LIST), date(2026, 3, 2))
    s = at(p, date(2026, 6, 1))
    assert (s.grade, s.grade_display) == ("D", label)
    p_records = sorted(p.records, key=lambda r: r.decided_on)
    assert grade_before_drop(p_records, date(2026, 6, 1), WD, 1000) == label[1]


def test_a_repair_without_a_rule_removes_the_deduction_or_keeps_it_when_configured(ctx):
    p = person()
    fine = add(p, item(FINE_HEAVIER), date(2026, 1, 5))
    assert apply_repair(db.session, fine, date(2026, 4, 13)) is None
    assert at(p, date(2026, 4, 13)).score == 1000 and at(p, date(2026, 4, 12)).score == 980
    q = person("王某")
    kept = add(q, item(FINE_HEAVIER), date(2026, 1, 5))
    copy = apply_repair(db.session, kept, date(2026, 4, 13), remove_deduction=False)
    db.session.flush()
    assert (copy.points, copy.valid_until) == (-20, date(2027, 1, 5)) and at(q, date(2026, 5, 1)).score == 980


def test_petition_repair_c_becomes_minus_50_and_d_becomes_b(ctx):
    p = person()
    c = add(p, item("签订息诉罢访协议书后仍然走访的"), date(2026, 1, 5))
    new = apply_repair(db.session, c, date(2026, 5, 6))
    assert (new.points, new.direct_grade, new.valid_until) == (-50, None, date(2028, 5, 6))
    q = person("赵某")
    d = add(q, item("在敏感地区等严禁上访场所上访的"), date(2026, 1, 5))
    new = apply_repair(db.session, d, date(2026, 5, 6))
    db.session.flush()
    assert (new.points, new.direct_grade, new.valid_until) == (0, "B", date(2028, 5, 6))
    assert (at(q, date(2026, 5, 6)).score, at(q, date(2026, 5, 6)).grade) == (850, "B")


def test_a_revoked_repair_takes_its_replacement_out_of_the_score_again(ctx):
    p, other = person(), person("钱某")
    listed = add(p, item(COURT_LIST), date(2026, 8, 3))
    for _ in range(10):  # ids beyond #listed so that a loose match (#5 vs #50) would show
        add(other, item(BLOOD), date(2026, 8, 3))
    replacement = apply_repair(db.session, listed, date(2026, 10, 12))
    db.session.flush()
    listed.status, listed.repaired_on = RecordStatus.ACTIVE, None  # what credit_repair.revoke_repair does
    assert revoke_repair_replacement(db.session, listed) == [replacement]
    assert replacement.status == RecordStatus.REVOKED
    s = at(p, date(2026, 11, 1))
    assert (s.score, s.grade_display) == (599, "DA")


# --- 联奖联罚: organisation → legal representative ---------------------------------------------

def test_an_organisations_item_is_mirrored_on_its_legal_representative(ctx):
    li = person("李某")
    firm = company(rep=li)
    fine, mirrored = record_item(db.session, firm, item("被处以较重罚款行政处罚的", who="organisation"),
                                 date(2026, 3, 2))
    assert (fine.points, mirrored.subject_id, mirrored.points) == (-30, li.id, -20)  # the person's scale
    assert mirrored.item_code == item(FINE_HEAVIER)["code"] and "联奖联罚" in mirrored.title
    listed, rep_item = record_item(db.session, firm, item(ORG_COURT_LIST, who="organisation"), date(2026, 8, 3))
    assert (listed.direct_grade, rep_item.direct_grade, rep_item.valid_until) == ("D", "C", date(2029, 8, 3))
    assert (at(li, date(2026, 9, 1)).score, at(li, date(2026, 9, 1)).grade) == (600, "C")
    assert mirror_to_legal_representative(db.session, listed) is None  # only once


def test_no_mirror_without_a_linked_legal_representative(ctx):
    firm = company()
    _fine, mirrored = record_item(db.session, firm, item("被处以警告行政处罚的", who="organisation"), date(2026, 3, 2))
    assert mirrored is None


def test_the_court_list_repair_of_an_organisation_is_minus_80(ctx):
    firm = company()
    listed = add(firm, item(ORG_COURT_LIST, who="organisation"), date(2026, 8, 3))
    new = apply_repair(db.session, listed, date(2026, 10, 12))
    assert (new.points, new.valid_until) == (-80, date(2028, 10, 12))


# --- the rural star rating -------------------------------------------------------------------

@pytest.mark.parametrize(("score", "stars"), [(1061, 5), (1060, 4), (1041, 4), (1040, 3), (1021, 3), (1020, 2),
                                              (1000, 2), (991, 2), (990, 1), (801, 1), (800, 0), (500, 0)])
def test_rural_stars(score, stars):
    assert rural_stars(score) == stars


def test_rural_stars_under_a_village_direct_grade_are_zero():
    assert rural_stars(1100, direct=True) == 0


@pytest.mark.parametrize(("stars", "bonus"), [(5, 15), (4, 10), (3, 2), (2, 0), (1, 0), (0, 0)])
def test_rural_year_end_bonus(stars, bonus):
    assert rural_year_end_bonus(stars) == bonus


def test_rural_year_end_bonus_becomes_a_district_item_next_january(ctx):
    p = person()
    fields = rural_year_end_bonus_item(2026, 5)
    assert rural_year_end_bonus_item(2026, 2) is None
    record = add(p, fields, fields.pop("decided_on"))
    assert (record.points, record.decided_on, record.valid_until) == (15, date(2027, 1, 1), date(2028, 1, 1))
    assert at(p, date(2027, 1, 1)).score == 1015 and at(p, date(2026, 12, 31)).score == 1000


def test_rural_district_link():
    assert [rural_district_link_points(g) for g in ("A", "B", "C", "D")] == [0, -50, -80, -100]


def test_rural_items_last_until_year_end_and_a_village_direct_grade_is_zero_stars(ctx):
    p = person()
    blood = add(p, item("无偿献血的（每次）", "wendeng_rural"), date(2026, 3, 2), WR)
    assert blood.valid_until == date(2026, 12, 31)
    add(p, item("受到国家级表彰奖励的", "wendeng_rural"), date(2026, 4, 1), WR)
    s = at(p, date(2026, 6, 1), WR)
    assert (s.score, s.grade, rural_stars(s.score)) == (1110, "S5", 5)
    assert at(p, date(2027, 1, 1), WR).score == 1000       # a new year starts from the base
    refused = add(p, item("拒不改正违法违规行为的（本年度直接判为零星）", "wendeng_rural"), date(2026, 7, 1), WR)
    s = at(p, date(2026, 7, 1), WR)
    assert (s.score, s.grade, s.frozen_points) == (0, "S0", 110)
    new = apply_repair(db.session, refused, date(2026, 9, 1), scheme=WR)
    db.session.flush()
    assert (new.points, new.valid_until) == (-60, date(2026, 12, 31))
    assert at(p, date(2026, 9, 1), WR).score == 1050
    late = add(p, item("拒不改正违法违规行为的（本年度直接判为零星）", "wendeng_rural"), date(2026, 11, 1), WR)
    with pytest.raises(InvalidInput):
        apply_repair(db.session, late, date(2027, 1, 4), scheme=WR)


# --- the catalogue: seed, validation, edits --------------------------------------------------

def test_the_seed_loads_every_scheme_once(ctx):
    first = load_builtin_schemes(db.session)
    assert {k: v["scheme"] for k, v in first.items()} == {"wendeng": 1, "weihai_haibei": 1, "wendeng_rural": 1}
    wendeng_items = db.session.execute(db.select(CatalogueItem).join(ScoringScheme)
                                       .where(ScoringScheme.key == "wendeng")).scalars().all()
    assert sum(i.kind == "add" for i in wendeng_items) >= 100 and sum(i.kind == "deduct" for i in wendeng_items) >= 115
    assert sum(i.direct_grade is not None for i in wendeng_items) >= 50
    again = load_builtin_schemes(db.session)
    assert all(v == {"scheme": 0, "items": 0} for v in again.values())
    assert scheme_for(db.session, "wendeng").direct_grade_floors == {"B": 850, "C": 600, "D": 599}


def test_every_seed_item_fits_its_scheme():
    for key in ("wendeng", "weihai_haibei", "wendeng_rural"):
        scheme = builtin_scheme(key)
        data = builtin_scheme_data(key)
        codes = [i["code"] for i in data["items"]]
        assert len(codes) == len(set(codes))
        for row in data["items"]:
            validate_item(scheme, {**row, "active": True})
            if row["mirror_code"]:  # 联奖联罚 targets a person-scale row of the same kind
                target = next(i for i in data["items"] if i["code"] == row["mirror_code"])
                assert target["subject_kinds"] == ["person"] and ItemSpec.of(target).kind == row["kind"]


def test_catalogue_points_outside_the_scheme_limits_are_refused_with_the_limits(ctx):
    load_builtin_schemes(db.session)
    values = {"name_zh": "测试事项", "kind": "deduct", "points": -200, "category": "测试", "subject_kinds": ["person"]}
    with pytest.raises(InvalidInput) as exc:
        create_item(db.session, "wendeng", values, by="admin")
    assert "-150" in exc.value.message and "100" in exc.value.message
    assert exc.value.details["limits"] == {"points_min": -150, "points_max": 100}
    with pytest.raises(InvalidInput):
        create_item(db.session, "wendeng", {**values, "points": 5}, by="admin")    # a deduction cannot add
    with pytest.raises(InvalidInput) as exc:
        create_item(db.session, "wendeng", {**values, "points": -10, "direct_grade": "E"}, by="admin")
    assert "direct_grade" in exc.value.details["fields"]
    with pytest.raises(NotFound):
        create_item(db.session, "nowhere", {**values, "points": -10}, by="admin")
    created = create_item(db.session, "wendeng", {**values, "points": -10}, by="admin")
    assert created.code.startswith("WD-P-D") and created.validity_class == "deduction"


def test_village_items_carry_at_most_two_points_and_five_per_kind(ctx):
    load_builtin_schemes(db.session)
    village = {"name_zh": "村级自选", "kind": "add", "points": 3, "category": "村级自选奖分项",
               "subject_kinds": ["person"], "scope": "village"}
    with pytest.raises(InvalidInput) as exc:
        create_item(db.session, "wendeng_rural", village, by="admin")
    assert "2" in exc.value.message and exc.value.details["limits"] == {"village_item_max_abs": 2}
    for _ in range(4):  # the seed has one village bonus item already
        create_item(db.session, "wendeng_rural", {**village, "points": 2}, by="admin")
    with pytest.raises(InvalidInput) as exc:
        create_item(db.session, "wendeng_rural", {**village, "points": 1}, by="admin")
    assert "5" in exc.value.message
    with pytest.raises(InvalidInput):
        create_item(db.session, "wendeng", {**village, "points": 1}, by="admin")  # 文登 has no village items


def test_updating_an_item_is_validated_and_its_code_is_fixed(ctx):
    load_builtin_schemes(db.session)
    row = db.session.execute(db.select(CatalogueItem).where(CatalogueItem.code == item(FINE_HEAVIER)["code"])).scalar_one()
    with pytest.raises(InvalidInput):
        update_item(db.session, row.id, {"points": -151}, by="admin")
    with pytest.raises(InvalidInput):
        update_item(db.session, row.id, {"code": "WD-X-1"}, by="admin")
    update_item(db.session, row.id, {"points": -25}, by="admin")
    assert resolve_new_item(db.session, person(), row, date(2026, 3, 2)).points == -25
    update_item(db.session, row.id, {"active": False}, by="admin")
    with pytest.raises(InvalidInput):
        resolve_new_item(db.session, person(), row, date(2026, 3, 2))
