"""Offline checks of the Kubernetes manifests and the Helm chart.

No cluster is contacted (none can be reached here): the chart is linted
and rendered with Helm's own engine (the Go SDK, through helm-python-sdk),
and every object, of the plain manifests and of the rendered chart, is
validated against the Kubernetes API schemas in strict mode (unknown
fields refused) with kubernetes-validate. Then what a schema cannot say
is checked: the workers reach the scheduler's Service, the secret comes
from a Secret, probes and the preStop retirement are there, and the
arguments are ones the `rask` binary accepts (`rask ARGS --help` exits 0,
when a rask binary is given).

    python check.py ROOT [RASK_BINARY]

Prints one line per check and a summary line last; exits 1 on a failure.
"""

import subprocess
import sys
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

VERSIONS = ["1.29.0", "1.33.0", kubernetes_validate.latest_version()]

passed = 0
failed = 0


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"   ok: {what}")
    else:
        failed += 1
        print(f"   FAILED: {what}{': ' + detail if detail else ''}")


def validate(name, docs):
    """Every object in `docs` against each version's schema, strictly."""
    for version in VERSIONS:
        errors = []
        for d in docs:
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except Exception as e:  # ValidationError, or an unknown kind
                errors.append(f"{d.get('kind')}/{d['metadata'].get('name')}: {e}")
        check(f"{name}: {len(docs)} objects valid against Kubernetes {version} (strict)",
              not errors, "; ".join(errors)[:2000])


def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def semantics(name, docs, rask):
    """What the schemas cannot say."""
    k = by_kind(docs)
    deps = {d["metadata"]["name"]: d for d in k.get("Deployment", [])}
    sched = next((d for n, d in deps.items() if n.endswith("scheduler")), None)
    worker = next((d for n, d in deps.items() if n.endswith("worker")), None)
    svc = next((s for s in k.get("Service", []) if s["metadata"]["name"].endswith("scheduler")), None)
    check(f"{name}: a scheduler Deployment, a worker Deployment, a scheduler Service",
          sched is not None and worker is not None and svc is not None)
    if not (sched and worker and svc):
        return
    spod = sched["spec"]["template"]
    wpod = worker["spec"]["template"]
    # The Service selects the scheduler's pods, and only them.
    sel = svc["spec"]["selector"]
    check(f"{name}: the Service selects the scheduler's pods, not the workers'",
          all(spod["metadata"]["labels"].get(a) == b for a, b in sel.items())
          and not all(wpod["metadata"]["labels"].get(a) == b for a, b in sel.items()))
    # Each Deployment's selector matches its own pods.
    for d in (sched, worker):
        ml = d["spec"]["selector"]["matchLabels"]
        check(f"{name}: {d['metadata']['name']} selects its own pods",
              all(d["spec"]["template"]["metadata"]["labels"].get(a) == b for a, b in ml.items()))
    sc = spod["spec"]["containers"][0]
    wc = wpod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in sc["ports"]}
    svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
    check(f"{name}: the Service's ports name the scheduler's (rask, http-metrics)",
          set(svc_ports) == {"rask", "http-metrics"} and set(ports) >= set(svc_ports))
    # Workers reach the scheduler through the Service, on its rask port.
    target = wc["args"][1]
    host, _, port = target.rpartition(":")
    check(f"{name}: workers join {target}, the Service's rask port",
          host == svc["metadata"]["name"] and int(port) == svc_ports["rask"]["port"])
    # The secret comes from a Secret, for both.
    for c, who in ((sc, "scheduler's"), (wc, "workers'")):
        env = {e["name"]: e for e in c.get("env", [])}
        ref = env.get("RASK_SECRET", {}).get("valueFrom", {}).get("secretKeyRef")
        check(f"{name}: the {who} RASK_SECRET comes from a Secret", bool(ref) and ref["key"] == "RASK_SECRET")
    secrets = k.get("Secret", [])
    if secrets:
        check(f"{name}: the Secret it makes holds RASK_SECRET",
              "RASK_SECRET" in secrets[0].get("data", {}))
    # Probes on the metrics port's /health.
    for p in ("readinessProbe", "livenessProbe"):
        hg = sc.get(p, {}).get("httpGet", {})
        check(f"{name}: scheduler {p} asks /health on http-metrics",
              hg.get("path") == "/health" and hg.get("port") == "http-metrics")
    # --listen and --metrics bind the declared ports.
    a = sc["args"]
    check(f"{name}: the scheduler listens and serves metrics on the declared ports",
          a[a.index("--listen") + 1].endswith(f":{ports['rask']}")
          and a[a.index("--metrics") + 1].endswith(f":{ports['http-metrics']}"))
    # /metrics and the dashboard ask for the token derived from the secret
    # (Prometheus sends it; /health stays open for the probes).
    check(f"{name}: the scheduler's HTTP endpoints keep their authentication",
          not any(x in a for x in ("--metrics-no-auth", "--dashboard-no-auth")))
    # Workers: their pod's address and name, retired before they stop.
    wa = wc["args"]
    check(f"{name}: workers bind $(POD_IP) and are named $(POD_NAME) (from the downward API)",
          wa[wa.index("--host") + 1] == "$(POD_IP)" and wa[wa.index("--name") + 1] == "$(POD_NAME)"
          and {e["name"] for e in wc["env"]} >= {"POD_IP", "POD_NAME"})
    pre = wc.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    grace = wpod["spec"].get("terminationGracePeriodSeconds", 30)
    timeout = int(pre[pre.index("--timeout") + 1]) if "--timeout" in pre else None
    check(f"{name}: a worker is retired in its preStop hook, within its grace period ({grace} s)",
          pre[:2] == ["/usr/local/bin/rask", "retire"] and timeout is not None and timeout < grace)
    # The rask binary takes these arguments.
    if rask:
        for args in (sc["args"], wa, pre[1:]):
            cmd = [rask] + [x.replace("$(POD_IP)", "10.0.0.9").replace("$(POD_NAME)", "w-0") for x in args] + ["--help"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            check(f"{name}: `rask {args[0]}` accepts {' '.join(args[1:])}", r.returncode == 0,
                  r.stderr.strip()[:300])


def main():
    root = Path(sys.argv[1])
    rask = sys.argv[2] if len(sys.argv) > 2 else None
    print("== kubernetes: the plain manifests (deploy/kubernetes/rask.yaml)")
    plain = [d for d in yaml.safe_load_all((root / "deploy/kubernetes/rask.yaml").read_text()) if d]
    validate("rask.yaml", plain)
    semantics("rask.yaml", plain, rask)

    chart_dir = root / "deploy/helm/rask"
    print("== kubernetes: the Helm chart (deploy/helm/rask), with Helm", helm.helm_sdk_version())
    report = helm.lint(str(chart_dir), strict=True)
    msgs = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    check("helm lint --strict: no warnings or errors", not msgs and not report.get("errors"),
          "; ".join(f"{m.get('path')}: {m.get('error')}" for m in msgs) + " ".join(report.get("errors") or []))
    cases = {
        "defaults": None,
        "an existing Secret, 8 GPU workers": {
            "secret": {"existingSecret": "my-secret"},
            "worker": {"replicas": 8, "declare": ["gpu=1"], "threads": 16},
            "image": {"repository": "registry.example/rask", "tag": "0.1.0"},
        },
    }
    with helm.Chart.load(str(chart_dir)) as chart:
        for label, values in cases.items():
            rendered = chart.render(values, name="demo", namespace="compute", is_install=True)
            docs = []
            for path, text in sorted(rendered.items()):
                if path.endswith(".txt"):
                    continue
                docs += [d for d in yaml.safe_load_all(text) if d]
            kinds = sorted(d["kind"] for d in docs)
            check(f"chart ({label}): renders {', '.join(kinds)}", len(docs) >= 4)
            validate(f"chart ({label})", docs)
            semantics(f"chart ({label})", [d for d in docs if d["kind"] != "Pod"], rask)
            if values and values["secret"]["existingSecret"]:
                check(f"chart ({label}): no Secret made; my-secret used",
                      not any(d["kind"] == "Secret" for d in docs)
                      and "my-secret" in yaml.safe_dump(docs))
        try:
            chart.render({"worker": {"threads": 0}}, name="demo")
            check("chart: values.schema.json refuses threads: 0", False)
        except Exception as e:
            check("chart: values.schema.json refuses threads: 0", "threads" in str(e), str(e)[:200])
    print(f"kubernetes: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
