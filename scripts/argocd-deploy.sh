#!/usr/bin/env bash
# Point an Argo CD application at an image, sync it, wait until it is healthy, and roll back to
# the previous revision if it is not healthy in time. Usage: argocd-deploy.sh APP IMAGE
# Needs ARGOCD_SERVER and ARGOCD_AUTH_TOKEN (a CI secret) and the argocd CLI on PATH.
set -euo pipefail
app=$1
image=$2
timeout=${DEPLOY_TIMEOUT_S:-600}

previous=$(argocd app get "$app" -o json | python3 -c \
  'import json,sys; h=json.load(sys.stdin)["status"].get("history",[]); print(h[-1]["id"] if h else "")')
argocd app set "$app" --kustomize-image "openmmo=${image}"
argocd app sync "$app" --timeout "$timeout"
if argocd app wait "$app" --health --sync --timeout "$timeout"; then
  echo "deploy: $app is healthy on $image"
  exit 0
fi
echo "deploy: $app did not become healthy; rolling back to revision ${previous:-none}" >&2
if [ -n "$previous" ]; then
  argocd app rollback "$app" "$previous" --timeout "$timeout"
  argocd app wait "$app" --health --timeout "$timeout"
fi
exit 1
