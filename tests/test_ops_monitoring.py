"""The multi-host files in ops/: Prometheus config and rules parse and use only metrics `/metrics` serves,
the Grafana dashboard is valid JSON, and a real server accepts the Sentinel and replication configs."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from alertnet.services import metrics
from alertnet.store.metrics import MetricsSnapshot
from alertnet.store.server import free_port, server_binary

OPS = Path(__file__).resolve().parent.parent / "ops"
yaml = pytest.importorskip("yaml")


SUFFIXES = {
    "counter": ("",),  # the TYPE line already names the _total series
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
}


def served_metric_names() -> set[str]:
    """Every series name the API's /metrics renders (with _total, _bucket, _count, ... suffixes)."""
    text = metrics.render(MetricsSnapshot(lateness=[1.0])).decode()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            names |= {name + suffix for suffix in SUFFIXES.get(kind, ("",))}
    # Bucket bounds as rendered (le="30", not "30.0"): a rule must name one that exists.
    names |= {f'le="{le}"' for le in re.findall(r'le="([^"]+)"', text)}
    return names


def test_prometheus_config_scrapes_metrics_with_a_bearer_token_file() -> None:
    config = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "alertnet")
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]


def test_alert_rules_cover_the_four_cases_with_metrics_the_api_serves() -> None:
    rules = yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text())["groups"][0]["rules"]
    names = {r["alert"] for r in rules}
    assert {"AlertNetQueueBacklog", "AlertNetProviderErrors", "AlertNetEscalationLate"} <= names
    assert "AlertNetNoWorkerAlive" in names
    served = served_metric_names()
    for rule in rules:
        assert rule["expr"] and rule["annotations"]["runbook"].startswith("ops/RUNBOOK.md#")
        for name in set(re.findall(r"\balertnet_[a-z_]+|le=\"[^\"]+\"", rule["expr"])):
            assert name in served, f"{rule['alert']}: /metrics has no {name}"


def test_grafana_dashboard_is_json_with_panels_on_served_metrics() -> None:
    dashboard = json.loads((OPS / "grafana" / "alertnet-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["panels"]
    served = served_metric_names()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in set(re.findall(r"\balertnet_[a-z_]+|le=\"[^\"]+\"", target["expr"])):
                assert name in served, f"{panel['title']}: /metrics has no {name}"


@pytest.mark.parametrize("conf", ["redis-primary.conf", "redis-replica.conf", "sentinel.conf"])
def test_a_real_server_accepts_the_sentinel_configs(conf: str, tmp_path: Path) -> None:
    try:
        binary = server_binary()
    except RuntimeError:
        pytest.skip("no Redis-compatible server binary")
    base = (OPS / "redis.conf").read_text()
    base = re.sub(r"(?m)^(dir|pidfile) .*$", "", base)
    (tmp_path / "base.conf").write_text(base)
    text = (
        (OPS / "sentinel" / conf)
        .read_text()
        .replace("/etc/alertnet/redis-base.conf", str(tmp_path / "base.conf"))
    )
    text = re.sub(r"(?m)^bind .*$", "bind 127.0.0.1", text)
    text = re.sub(r"(?m)^dir .*$", f"dir {tmp_path}", text)
    port = free_port()
    (tmp_path / conf).write_text(text + f"\nport {port}\ndir {tmp_path}\n")
    args = [binary, str(tmp_path / conf), "--supervised", "no"] + (
        ["--sentinel"] if conf == "sentinel.conf" else []
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.0)
        assert process.poll() is None, log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=10)
