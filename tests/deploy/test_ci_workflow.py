"""The GitHub Actions workflow: actionlint (the real linter) and the workflow JSON schema."""

import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "bin"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def tool(name):
    path = TOOLS / name
    assert path.exists(), f"{name} is missing: run scripts/tools.sh"
    return str(path)


def test_actionlint_finds_nothing():
    assert WORKFLOWS
    result = subprocess.run(
        [tool("actionlint"), *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_match_the_schema():
    result = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pipeline_tests_builds_scans_deploys_and_can_roll_back():
    jobs = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yaml").read_text())["jobs"]
    assert list(jobs) == ["test", "image", "scan", "deploy-staging", "deploy-production"]
    assert any("make test" in step.get("run", "") for step in jobs["test"]["steps"])
    assert jobs["deploy-production"]["needs"] == "deploy-staging"
    script = (ROOT / "scripts" / "argocd-deploy.sh").read_text()
    assert "argocd app rollback" in script and "--health" in script
    result = subprocess.run(
        ["bash", "-n", str(ROOT / "scripts" / "argocd-deploy.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
