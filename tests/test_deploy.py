"""Deployment files, checked with the best validators installable here (no Docker engine,
no cluster): the compose file against the compose-spec JSON schema (check-jsonschema's
vendored copy); the Helm chart with Helm's own lint and renderer (helm-python-sdk binds
Helm's Go SDK) and every rendered manifest against the Kubernetes JSON schemas
(kubernetes-validate); plus the wiring between them that no schema sees."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from flockwatch.rules.loader import load_packs

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
CHART = DEPLOY / "helm" / "flockwatch"
KUBE_VERSION = "1.30.0"


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


# -- docker compose ------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec_schema() -> None:
    exe = shutil.which("check-jsonschema") or str(Path(__import__("sys").executable).parent / "check-jsonschema")
    if not Path(exe).exists():
        pytest.skip("check-jsonschema not installed (pip install -e '.[test]')")
    out = subprocess.run([exe, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_runs_kafka_in_kraft_mode_postgres_and_two_workers() -> None:
    services = compose()["services"]
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "broker" in kafka["KAFKA_PROCESS_ROLES"]
    assert not any("zookeeper" in name for name in services)
    assert services["postgres"]["image"].startswith("postgres:")
    worker = services["worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert "container_name" not in worker  # a fixed name would forbid replicas
    env = worker["environment"]
    assert env["FLOCKWATCH_DATABASE_URL"].startswith("postgresql://") and "@postgres:" in env["FLOCKWATCH_DATABASE_URL"]
    assert env["FLOCKWATCH_BROKER"].startswith("kafka:")
    assert {"prometheus", "grafana"} <= set(services)


def test_compose_bind_mounts_and_build_point_at_files_in_the_repository() -> None:
    services = compose()["services"]
    for name, svc in services.items():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
    build = services["worker"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


def test_dockerfile_copies_files_that_exist() -> None:
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), src


def test_prometheus_scrapes_the_compose_workers_on_their_metrics_port() -> None:
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "flockwatch")
    sd = {tuple(c["names"]): c["port"] for c in job["dns_sd_configs"]}
    services = compose()["services"]
    assert str(sd[("worker",)]) == services["worker"]["environment"]["FLOCKWATCH_METRICS_PORT"]
    if "notifier" in services:
        command = services["notifier"]["command"]
        assert str(sd[("notifier",)]) == command[command.index("--metrics-port") + 1]


# -- Helm chart ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def helm() -> Any:
    helm = pytest.importorskip("helm_python", reason="helm-python-sdk (Helm's Go SDK) not installed: pip install -e '.[test]'")
    helm.disable_logging()
    return helm


def full_values() -> dict[str, Any]:
    return {
        "worker": {"replicas": 3},
        "secrets": {"databaseUrl": "postgresql://flockwatch:pw@pg:5432/flockwatch", "apiToken": "t0ken",
                    "webhooks": {"ONCALL_WEBHOOK_URL": "https://hooks.example.invalid/T0/B0"}},
        "rules": {"packs": {p.name: p.read_text() for p in sorted((ROOT / "rules").glob("*.yaml"))}},
        "notifier": {"enabled": True},
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "grafanaDashboards": {"enabled": True},
    }


def render(helm: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
    out = helm.Chart.load(str(CHART)).render(values, name="fw", namespace="safety", is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(out.items()):
        if path.endswith(".txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> Iterator[dict[str, Any]]:
    return (d for d in docs if d["kind"] == kind)


def one(docs: list[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    [doc] = [d for d in by_kind(docs, kind) if d["metadata"]["name"].endswith(name_suffix)]
    return doc


def test_helm_lint_is_clean(helm: Any) -> None:
    for values in (full_values(), {"secrets": {"databaseUrl": "postgresql://x@y/z"}, "api": {"enabled": False}}):
        report = helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBE_VERSION}")
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert not problems and not report["errors"], report


def test_helm_lint_catches_bad_values(helm: Any) -> None:
    report = helm.lint(str(CHART), {"worker": {"replicas": "two"}, "secrets": {"databaseUrl": "x"}})
    assert any("replicas" in e for e in report["errors"])


def test_rendered_manifests_are_valid_kubernetes(helm: Any) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate not installed")
    docs = render(helm, full_values())
    builtin = [d for d in docs if not d["apiVersion"].startswith("monitoring.coreos.com/")]
    assert {d["kind"] for d in builtin} >= {"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"}
    for doc in builtin:
        kv.validate(doc, KUBE_VERSION, strict=True)  # raises with the path of the first error


def test_workers_are_a_deployment_with_probes_rules_and_secrets(helm: Any) -> None:
    docs = render(helm, full_values())
    worker = one(docs, "Deployment", "-worker")
    assert worker["spec"]["replicas"] == 3
    pod = worker["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e for e in c["env"]}
    secret = one(docs, "Secret")
    assert env["FLOCKWATCH_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": secret["metadata"]["name"], "key": "database-url"}
    assert env["FLOCKWATCH_RULES"]["value"] == "/etc/flockwatch/rules"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["rules"] == "/etc/flockwatch/rules"
    rules_cm = next(v["configMap"]["name"] for v in pod["volumes"] if v["name"] == "rules")
    assert one(docs, "ConfigMap", "-rules")["metadata"]["name"] == rules_cm
    # the rules must not restart pods when they change: they are reloaded live
    assert not any("rules" in k for k in worker["spec"]["template"]["metadata"]["annotations"])
    assert secret["stringData"]["ONCALL_WEBHOOK_URL"].startswith("https://")
    notifier = one(docs, "Deployment", "-notifier")
    [nc] = notifier["spec"]["template"]["spec"]["containers"]
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in nc["envFrom"]


def test_rules_configmap_holds_packs_that_load(helm: Any, tmp_path: Path) -> None:
    cm = one(render(helm, full_values()), "ConfigMap", "-rules")
    for name, text in cm["data"].items():
        (tmp_path / name).write_text(text)
    packs = load_packs([tmp_path])
    assert sorted(p.name + ".yaml" for p in packs) == sorted(cm["data"])


def test_existing_secret_and_configmap_are_used_instead(helm: Any) -> None:
    docs = render(helm, {"secrets": {"existingSecret": "fw-prod"}, "rules": {"existingConfigMap": "safety-rules"}})
    assert list(by_kind(docs, "Secret")) == []
    assert not [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-rules")]
    pod = one(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    assert {"name": "rules", "configMap": {"name": "safety-rules"}} in pod["volumes"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["FLOCKWATCH_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "fw-prod"


def test_without_a_database_url_the_chart_refuses_to_render(helm: Any) -> None:
    with pytest.raises(Exception, match="databaseUrl"):
        render(helm, {})


def test_the_api_gets_its_token_from_the_secret(helm: Any) -> None:
    with pytest.raises(Exception, match="apiToken"):
        render(helm, {"secrets": {"databaseUrl": "postgresql://x@y/z"}})
    docs = render(helm, full_values())
    [c] = one(docs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["FLOCKWATCH_API_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "api-token"
    assert one(docs, "Secret")["stringData"]["api-token"] == "t0ken"


def test_service_monitor_selects_the_worker_service_as_job_flockwatch(helm: Any) -> None:
    docs = render(helm, full_values())
    sm = one(docs, "ServiceMonitor")
    svc = one(docs, "Service", "-worker")
    labels = svc["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
    assert labels[sm["spec"]["jobLabel"]] == "flockwatch"  # the job the alerts and dashboards select
    ports = {p["name"] for p in svc["spec"]["ports"]}
    assert {e["port"] for e in sm["spec"]["endpoints"]} <= ports
    worker_labels = one(docs, "Deployment", "-worker")["spec"]["template"]["metadata"]["labels"]
    assert all(worker_labels.get(k) == v for k, v in svc["spec"]["selector"].items())


def test_prometheus_rule_and_dashboards_are_the_repository_files(helm: Any) -> None:
    docs = render(helm, full_values())
    rule = one(docs, "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load((DEPLOY / "prometheus" / "flockwatch-alerts.yml").read_text())["groups"]
    dashboards = one(docs, "ConfigMap", "-dashboards")
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboards["data"] == {p.name: p.read_text().rstrip("\n") for p in sorted((ROOT / "dashboards").glob("*.json"))}


# -- environment names the commands really read ---------------------------------------


def command_envvars(name: str) -> set[str]:
    from flockwatch.cli.main import cli

    command = cli.commands.get(name)
    if command is None:
        pytest.skip(f"`flockwatch {name}` is not in this tree yet")
    out = set()
    for param in command.params:
        env = getattr(param, "envvar", None)
        out.update([env] if isinstance(env, str) else env or [])
    return out


def test_compose_worker_environment_is_read_by_the_worker_command() -> None:
    known = command_envvars("worker")
    env = compose()["services"]["worker"]["environment"]
    assert set(env) <= known, set(env) - known


def test_chart_worker_environment_is_read_by_the_worker_command(helm: Any) -> None:
    known = command_envvars("worker")
    [c] = one(render(helm, full_values()), "Deployment", "-worker")["spec"]["template"]["spec"]["containers"]
    names = {e["name"] for e in c["env"]}
    assert names <= known, names - known
