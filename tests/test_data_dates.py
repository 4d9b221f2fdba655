"""Dates builder: every target is the ISO form of the date its source spells, splits disjoint."""

import datetime
import re

import babel
import pytest

from attn_seq2seq.data import dates, records

MONTHS = [
  "january",
  "february",
  "march",
  "april",
  "may",
  "june",
  "july",
  "august",
  "september",
  "october",
  "november",
  "december",
]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def month_number(word):
  """1-12 for a month name or its abbreviation (3 or 4 letters, e.g. 'sep', 'sept')."""
  (month,) = [i + 1 for i, name in enumerate(MONTHS) if name.startswith(word) and len(word) >= 3]
  return month


def full_year(digits):
  """Two-digit years are read in the generator's 100-year window 1970-2069."""
  year = int(digits)
  return year if len(digits) == 4 else (1900 + year if year >= 70 else 2000 + year)


def parse(source):
  """The date a source spells, by an independent reading of its words; checks the weekday."""
  words = source.split()
  weekday = words.pop(0) if words[0] in WEEKDAYS else None
  if len(words) == 1:  # 8/14/95 (M/d/yy) or 14.08.95 (dd.MM.yy)
    if "/" in words[0]:
      month, day, year = words[0].split("/")
    else:
      day, month, year = words[0].split(".")
    date = datetime.date(full_year(year), int(month), int(day))
  elif all(w.isdigit() for w in words):  # 14 08 95 (d MM yy)
    day, month, year = words
    date = datetime.date(full_year(year), int(month), int(day))
  else:  # A month name and two numbers: the 4-digit one is the year.
    (month,) = [w for w in words if not w.isdigit()]
    (year,) = [w for w in words if w.isdigit() and len(w) == 4]
    (day,) = [w for w in words if w.isdigit() and len(w) <= 2]
    date = datetime.date(int(year), month_number(month), int(day))
  assert weekday is None or WEEKDAYS[date.weekday()] == weekday, source
  return date


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  config = dates.DatesConfig(name="tiny", num_train=10_000, num_eval=200)
  data_dir = str(tmp_path_factory.mktemp("tfds"))
  builder = records.prepare(lambda: dates.Dates(config=config, data_dir=data_dir), data_dir)
  return {
    split: records.read_text_features(builder, split, ["source", "target"])
    for split in dates.SPLITS
  }


def test_ten_thousand_targets_are_the_iso_dates_their_sources_spell(prepared):
  pairs = list(zip(prepared["train"]["source"], prepared["train"]["target"], strict=True))
  assert len(pairs) == 10_000
  for (source,), (target,) in pairs:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", target)
    iso = datetime.date.fromisoformat(target)
    assert dates.FIRST_DATE <= iso <= dates.LAST_DATE
    assert source == source.lower() and "," not in source
    assert parse(source) == iso, (source, target)


def test_splits_are_disjoint_by_source_string(prepared):
  sources = [source for split in dates.SPLITS for (source,) in prepared[split]["source"]]
  assert len(sources) == 10_400 and len(set(sources)) == len(sources)


def test_all_24_formats_are_used(prepared):
  sources = [source for (source,) in prepared["train"]["source"]]
  shapes = {re.sub(r"[a-z]+", "w", re.sub(r"\d", "9", s)) for s in sources}
  assert len(dates.FORMATS) == 24 and len(shapes) >= 10


def test_late_december_gets_its_calendar_year_not_its_week_year():
  locale = babel.Locale.parse("en_US")
  day = datetime.date(2019, 12, 30)  # A Monday in the week of 2020-01-01.
  assert dates.format_date(day, "d MMMM yyy", locale) == "30 december 2019"
  assert dates.format_date(day, "d MMMM YYY", locale) == "30 december 2020"  # The course's bug.
  assert not any("Y" in pattern for pattern in dates.FORMATS)


def test_the_same_seed_gives_byte_identical_files_and_another_seed_other_dates(tmp_path):
  def array_records(name, seed, data_dir):
    config = dates.DatesConfig(name=name, seed=seed, num_train=50, num_eval=5)
    make = lambda: dates.Dates(config=config, data_dir=data_dir)
    builder = records.prepare(make, str(data_dir))
    return [f.read_bytes() for f in sorted(builder.data_path.glob("*.array_record*"))]

  first = array_records("small", 0, tmp_path / "a")
  assert len(first) == 3 and first == array_records("small", 0, tmp_path / "b")
  assert first != array_records("small_seed1", 1, tmp_path / "a")
