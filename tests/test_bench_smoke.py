"""Smoke tests of the benchmarks: one tiny interleaved round each, the summary's keys, and the spike
counts every implementation must share (the same network and dynamics in each library). No timing is
asserted (speed lives in benchmarks/)."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("snntorch")


def _records(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_core_bench_round_summary_and_spike_counts(capsys) -> None:
    from benchmarks import core

    core.main(["--T", "4", "--batch", "2", "--rounds", "1", "--repeats", "1", "--stream-steps", "3",
               "--impls", "snnkit,snnkit-events,snntorch"])
    records = _records(capsys)
    summary = records[-1]
    assert summary["summary"] and summary["failed"] == {}
    for key in ("snnkit_vs_best_peer", "snnkit_vs_floor", "stream_snnkit_vs_best_peer", "load_avg_start",
                "load_avg_end", "too_busy_to_trust", "snnkit_vs_best_peer_per_round", "snnkit_events_vs_snnkit",
                "snnkit_events_vs_best_peer"):
        assert key in summary, key
    assert summary["snnkit_vs_best_peer"] > 0 and len(summary["snnkit_vs_floor_per_round"]) == 1
    assert summary["identical_spike_counts"] and summary["identical_stream_spike_counts"]
    assert summary["snnkit_events_same_spike_count"] is True
    cases = [r["case"] for r in records[:-1]]
    assert cases == ["floor", "snnkit", "snnkit-events", "snntorch", "stream:snnkit", "stream:snntorch"]  # one round
    assert any(r.get("spikes") for r in records[:-1])  # the network fires


@pytest.mark.slow
def test_conv_bench_floors_and_channels_last_peer(capsys) -> None:
    pytest.importorskip("spikingjelly")
    from benchmarks import conv

    conv.main(["--T", "2", "--batch", "1", "--rounds", "1", "--repeats", "1", "--stream-steps", "0",
               "--impls", "snnkit,snnkit-unfused,spikingjelly,spikingjelly-cl", "--paired-steps", "2"])
    records = _records(capsys)
    summary = records[-1]
    assert summary["failed"] == {}
    assert [r["case"] for r in records[:-1]] == ["floor", "floor-nchw", "snnkit", "snnkit-unfused", "spikingjelly",
                                                 "spikingjelly-cl"]
    for key in ("snnkit_vs_floor", "snnkit_vs_floor_nchw", "snnkit_vs_spikingjelly-cl", "snnkit_vs_best_peer",
                "snnkit_unfused_vs_floor", "snnkit_vs_snnkit_unfused", "paired_snnkit_vs_floor"):
        assert summary[key] > 0, key
    assert summary["best_peer"] == "spikingjelly"  # the hand-tuned layout is not a peer's default
    assert summary["identical_spike_counts"] and any(r.get("spikes") for r in records[:-1])


@pytest.mark.slow
def test_online_bench_round_and_keys(capsys) -> None:
    from benchmarks import online

    online.main(["--T", "4", "--long-T", "8", "--batch", "2", "--rounds", "1", "--repeats", "1",
                 "--accuracy-epochs", "0", "--paired-steps", "2"])
    summary = _records(capsys)[-1]
    for key in ("online_vs_bptt", "sltt_k_vs_bptt", "ottt_vs_bptt", "online_peak_T8_vs_T4", "load_avg_start",
                "too_busy_to_trust", "paired_online_vs_bptt_T4", "paired_sltt_k_vs_bptt_T8", "paired_ottt_vs_bptt_T8"):
        assert summary.get(key) is not None, key
    assert summary["identical_spike_counts_bptt_online"]


def test_rounds_interleave_and_take_median_ratios() -> None:
    from benchmarks import _interleave as il

    r = il.Rounds.__new__(il.Rounds)
    r.bench, r.load_start, r.load_end = "x", 0.1, 0.2
    r.records = {"a": [{"median_ms": 2.0}, {"median_ms": 9.0}, {"median_ms": 3.0}],
                 "b": [{"median_ms": 1.0}, {"median_ms": 3.0}, {"median_ms": 1.0}],
                 "c": [{"median_ms": 4.0}, {"median_ms": 1.5}, {"median_ms": 6.0}]}
    assert r.ratios("a", ["b", "c"]) == [2.0, 6.0, 3.0]  # against the faster of b and c in each round
    s = il.summarise(r, {"a_vs_best": ("a", ["b", "c"]), "b_vs_a": ("b", "a")})
    assert s["a_vs_best"] == 3.0 and s["too_busy_to_trust"] is False
    # rounds at 2, 6 and 3 span (6 - 2) / 3 of their median: listed; b / a at 0.5, 0.33, 0.33 span 0.5
    assert s["rounds_disagree"] == ["a_vs_best", "b_vs_a"]
    assert not il.disagree([1.0, 1.1, 1.2]) and il.disagree([1.0, 1.3, 1.6]) and not il.disagree([1.0, 9.0])


BENCHES = ["core", "conv", "online", "scaling", "delays", "plasticity", "loihi", "crossbar", "conversion", "gpu"]


@pytest.mark.parametrize("name", BENCHES)
def test_every_bench_option_has_help(name, monkeypatch):
    """``snnkit bench NAME --help`` documents every option (the parser is caught before it parses), and
    ``--json`` (the form the README and the docs give for every benchmark) is one of them."""
    import argparse
    import importlib

    seen = {}

    def catch(self, *args, **kwargs):
        seen["parser"] = self
        raise SystemExit(0)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(SystemExit):
        importlib.import_module(f"benchmarks.{name}").main([])
    parser = seen["parser"]
    missing = [a.option_strings or a.dest for a in parser._actions
               if not a.help and not isinstance(a, argparse._HelpAction)]
    assert not missing, f"snnkit bench {name}: options without help: {missing}"
    assert "``" not in parser.format_help(), f"snnkit bench {name} --help shows raw markup"
    assert "--json" in parser._option_string_actions, f"snnkit bench {name} rejects --json"
