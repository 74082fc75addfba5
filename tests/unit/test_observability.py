from __future__ import annotations

from kizuna.observability import metrics


def test_disabled_metrics_are_discarded_not_printed_later(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")

    for _ in range(150):  # Powertools prints a full set of 100 values on its own, flush or not
        metrics.add_metric(name="SendSent", unit="Count", value=1)
        metrics.provider.flush_metrics(raise_on_empty_metrics=True)

    assert capsys.readouterr().out == ""
    assert metrics.metric_set == {}


def test_enabled_metrics_are_flushed_as_emf(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")

    metrics.add_metric(name="SendSent", unit="Count", value=1)
    metrics.provider.flush_metrics()

    assert '"SendSent":[1.0]' in capsys.readouterr().out.replace(" ", "")
