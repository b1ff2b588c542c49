"""tests/support/promql: the names an expression depends on, which the dashboards' and the
alert rules' tests hold against the apps' /metrics."""

from __future__ import annotations

import pytest

from tests.support.promql import grafana_to_promql, reads, template_reads


@pytest.mark.parametrize(
    ("expr", "selectors", "grouping"),
    [
        ("sum by (job) (up)", {"up": set()}, {"job"}),
        ("up == 0", {"up": set()}, set()),
        (
            'histogram_quantile(0.99, sum by (le, service) (rate(m_bucket{service=~"a"}[5m])))',
            {"m_bucket": {"service"}},
            {"le", "service"},
        ),
        ("time() - max(last_seconds)", {"last_seconds": set()}, set()),
        (
            'sum(rate(a_total{outcome=~"x|y"}[5m])) / on (service) group_left(code) b > 0.05',
            {"a_total": {"outcome"}, "b": set()},
            {"service", "code"},
        ),
        # A comma inside a matcher's value is not a second matcher.
        (
            'max without (instance) (x{service="a,b", status!~"5.."}) > bool 3',
            {"x": {"service", "status"}},
            {"instance"},
        ),
        ("sum(x) by (route) offset 5m", {"x": set()}, {"route"}),
        ('{__name__="x", job="j"}', {}, set()),
    ],
)
def test_an_expression_reads_its_selectors_and_grouping(
    expr: str, selectors: dict[str, set[str]], grouping: set[str]
) -> None:
    found = reads(expr)
    assert (found.selectors, found.grouping) == (selectors, grouping)


def test_grafana_variables_become_what_grafana_sends() -> None:
    expr = 'rate(m{service=~"$service"}[$__rate_interval])'
    assert grafana_to_promql(expr) == 'rate(m{service=~".*"}[5m])'


def test_a_variable_query_reads_its_metric_and_label() -> None:
    found = template_reads("label_values(micro_outbox_pending, service)")
    assert (found.selectors, found.grouping) == ({"micro_outbox_pending": set()}, {"service"})
    with pytest.raises(ValueError, match="not a label_values"):
        template_reads("query_result(up)")


def test_what_it_cannot_read_is_said() -> None:
    with pytest.raises(ValueError, match="cannot read"):
        reads("sum(x) # a comment")
