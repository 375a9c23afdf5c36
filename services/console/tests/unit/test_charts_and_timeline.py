"""Server-rendered charts and the provider's time line: geometry that matches the numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from console.adapters.shapes import Appointment, Slot
from console.domain.charts import HEIGHT, bars, nice_ceiling, stacked_bars
from console.domain.timeline import HOUR_HEIGHT, timeline


@pytest.mark.parametrize(("value", "top"), [(0, 1), (0.3, 0.5), (1, 1), (7, 10), (12, 20), (45, 50), (101, 200)])
def test_the_axis_top_is_a_round_number_at_or_above_the_largest_value(value: float, top: float) -> None:
    assert nice_ceiling(value) == top


def test_stacked_bars_stack_each_days_statuses_to_its_total() -> None:
    chart = stacked_bars("Bookings by status", ["01 Mar", "02 Mar"], [("confirmed", [3, 1]), ("cancelled", [1, 0])])
    plot_height = chart.plot_bottom - 16
    first_day = [bar for bar in chart.bars if bar.label.startswith("01 Mar")]
    assert len(first_day) == 2
    assert sum(bar.height for bar in first_day) == pytest.approx(plot_height * 4 / 5)  # total 4 of an axis of 5
    assert first_day[1].y + first_day[1].height == pytest.approx(first_day[0].y)  # stacked, not overlapping
    assert chart.table_rows == [["01 Mar", "3", "1"], ["02 Mar", "1", "0"]]
    assert [name for name, _ in chart.legend] == ["confirmed", "cancelled"]


def test_percentage_bars_are_drawn_against_a_hundred_percent_axis() -> None:
    chart = bars("Utilisation", [("Dr. A", 0.5), ("Dr. B", 0.25)], as_percent=True)
    assert chart.y_ticks[-1].label == "100%"
    assert chart.bars[0].height == pytest.approx(2 * chart.bars[1].height)
    assert chart.table_rows == [["Dr. A", "50.0%"], ["Dr. B", "25.0%"]]
    assert chart.bars[0].y + chart.bars[0].height == HEIGHT - 48


def test_a_chart_of_nothing_still_draws_its_axes() -> None:
    chart = bars("Fees", [])
    assert chart.bars == []
    assert chart.y_ticks


def test_the_time_line_places_slots_and_visits_at_their_local_hours() -> None:
    zone = ZoneInfo("Europe/Berlin")
    slot = Slot(id="s", service_id="x", starts_at=datetime(2026, 7, 1, 7, tzinfo=UTC),
                ends_at=datetime(2026, 7, 1, 7, 30, tzinfo=UTC), capacity=1, held=0, booked=1)
    visit = Appointment(id="a", status="confirmed", slot_id="s", provider_id="p", service_id="x", client_id="c",
                        starts_at=slot.starts_at, ends_at=slot.ends_at)
    line = timeline(zone, [(date(2026, 7, 1), [slot], [visit])])
    assert (line.first_hour, line.last_hour) == (8, 18)  # 09:00 local sits inside the default working day
    slot_block, visit_block = line.columns[0].blocks
    assert slot_block.y == HOUR_HEIGHT * 1
    assert slot_block.height == HOUR_HEIGHT / 2
    assert slot_block.kind == "full"
    assert visit_block.kind == "confirmed"
    assert "09:00" in visit_block.label
