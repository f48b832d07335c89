from dashboard.admin.charts import bar_chart


def test_bars_scale_to_the_largest_value_and_zero_has_no_bar():
    chart = bar_chart([("a", 0), ("b", 5), ("c", 10)], title="t", width=300, height=118)
    assert [bar.height for bar in chart.bars] == [0.0, 43.0, 86.0]  # plot = 118 - 18 - 14
    assert chart.bars[2].y == 14 and chart.bars[1].x > chart.bars[0].x
    assert chart.maximum == 10


def test_an_empty_or_all_zero_series_draws_nothing_and_does_not_divide_by_zero():
    assert bar_chart([], title="t").bars == []
    assert all(bar.height == 0 for bar in bar_chart([("a", 0)], title="t").bars)
