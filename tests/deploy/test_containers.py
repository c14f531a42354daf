"""The container artifacts: Dockerfile, .dockerignore, compose.yaml, the nginx edge proxy,
Prometheus and Grafana provisioning. The real linters and validators (hadolint, checkov,
docker-compose, check-jsonschema, nginx -t, promtool) plus what they cannot see: non-root,
health checks, ports on 127.0.0.1 only, no inline secrets, and nginx really routing the API
and the game WebSocket of a running local world."""

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from openmmo.client import GameClient, GatewayClient
from openmmo.testing import LocalWorld, free_port

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "bin"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / "deploy" / "compose.env.example"
NGINX = ROOT / "deploy" / "nginx" / "nginx.conf"
NGINX_TLS = ROOT / "deploy" / "nginx" / "tls.conf"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES_DIR = ROOT / "deploy" / "monitoring" / "rules"
GRAFANA = ROOT / "deploy" / "grafana" / "provisioning"

IMAGE = "localhost/openmmo:0.1.0"
OPENMMO_SERVICES = {"migrate", "gateway", "zone1", "zone2"}
SECRET_NAME = re.compile(r"(PASSWORD|_PASS|SECRETS?|TOKEN|_AUTH|_KEY)$|^--requirepass$", re.I)
CREDENTIALS_IN_URL = re.compile(r"://[^/@\s]*:[^/@\s]*@")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}")


# --- helpers ------------------------------------------------------------------------------
def tool(name):
    path = TOOLS / name
    assert path.exists(), f"{name} is missing from .tools/bin: run scripts/tools.sh"
    return str(path)


def system_tool(name, *candidates, hint="run scripts/tools.sh"):
    found = shutil.which(name) or next((c for c in candidates if Path(c).exists()), None)
    assert found, f"{name} is missing: {hint}"
    return found


def run(args, *, timeout=120, env=None, cwd=ROOT):
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "KUBECONFIG": "/nonexistent"} if env is None else env,
    )


def compose_run(*args, env_file=ENV_EXAMPLE, cwd=ROOT):
    """docker-compose on compose.yaml with only `env_file` as the source of variables (none of
    the developer's own exports, which would change the interpolated result)."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    command = [tool("docker-compose"), "-f", str(COMPOSE), "--env-file", str(env_file), *args]
    return run(command, env=clean, cwd=cwd, timeout=60)


def output(result):
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def logical_lines(path):
    """Dockerfile instructions: continuation lines joined, comments and blanks dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append((current + stripped).strip())
        current = ""
    if current:
        lines.append(current.strip())
    return lines


def stages():
    """{stage name: [instructions]} in order; the last one is the runtime image."""
    found = {}
    name = None
    for line in logical_lines(DOCKERFILE):
        keyword = line.split()[0].upper()
        if keyword == "FROM":
            match = re.search(r"\s+AS\s+(\S+)\s*$", line, re.IGNORECASE)
            name = match.group(1) if match else f"stage{len(found)}"
            found[name] = []
        assert name is not None, f"instruction before FROM: {line}"
        found[name].append(line)
    return found


def instructions(stage, keyword):
    return [line for line in stage if line.split()[0].upper() == keyword]


def exec_form(line):
    return json.loads(line.split(None, 1)[1])


def env_file_values(path):
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=value: {line}"
            values[key.strip()] = value.strip()
    return values


@pytest.fixture(scope="module")
def compose():
    """compose.yaml as compose itself resolves it (anchors, interpolation, defaults)."""
    result = compose_run("config", "--format", "json")
    assert result.returncode == 0, output(result)
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def raw_compose():
    """compose.yaml as written (before interpolation); YAML merge keys resolved."""
    return yaml.safe_load(COMPOSE.read_text())


def ignored(path, patterns):
    """Docker's .dockerignore rule: the last pattern that matches the path or one of its
    parent directories wins; `!` re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        body = body.strip("/")
        regex = ""
        i = 0
        while i < len(body):
            if body.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif body.startswith("**", i):
                regex += ".*"
                i += 2
            elif body[i] == "*":
                regex += "[^/]*"
                i += 1
            elif body[i] == "?":
                regex += "[^/]"
                i += 1
            elif body[i] == "[":
                end = body.index("]", i)
                regex += body[i : end + 1]
                i = end + 1
            else:
                regex += re.escape(body[i])
                i += 1
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            result = not negate
    return result


# --- Dockerfile -----------------------------------------------------------------------------
def test_hadolint_finds_nothing():
    result = run([tool("hadolint"), str(DOCKERFILE)])
    assert result.returncode == 0 and not result.stdout.strip(), output(result)


def test_checkov_passes_the_dockerfile():
    result = run(
        [
            tool("checkov"),
            "-f",
            str(DOCKERFILE),
            "--framework",
            "dockerfile",
            "--skip-download",
            "--compact",
            "--quiet",
        ],
        timeout=180,
    )
    assert result.returncode == 0, output(result)


def test_every_lint_suppression_is_justified():
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if "checkov:skip=" in line:
            assert re.search(r"checkov:skip=CKV\w*_\d+:\s*\S", line), (
                f"Dockerfile:{number + 1}: `# checkov:skip=ID: reason` needs a reason"
            )
        if "hadolint ignore=" in line:
            previous = lines[number - 1].strip() if number else ""
            assert previous.startswith("#") and "hadolint" not in previous, (
                f"Dockerfile:{number + 1}: say why on the comment line above the ignore"
            )


def test_two_stages_from_the_same_pinned_base():
    found = stages()
    assert list(found) == ["builder", "runtime"], list(found)
    for stage in found.values():
        assert re.fullmatch(
            r"FROM docker\.io/library/python:3\.11-slim AS \w+", stage[0], re.IGNORECASE
        ), stage[0]


def test_builder_installs_the_project_into_a_venv_from_wheels():
    builder = stages()["builder"]
    text = "\n".join(builder)
    assert "venv" in text and "/opt/openmmo" in text
    copies = " ".join(instructions(builder, "COPY"))
    for source in ("pyproject.toml", "README.md", "src/"):
        assert source in copies, f"the builder must COPY {source}"
    installs = [line for line in builder if re.search(r"\bpip\b.*\binstall\b", line)]
    assert installs, "the builder installs nothing"
    for line in installs:
        assert "--no-cache-dir" in line, line
    assert any("--only-binary=:all:" in line for line in installs), (
        "dependencies must come as wheels (the image has no compiler)"
    )


def test_runtime_stage_runs_as_10001_with_healthcheck_and_entrypoint():
    runtime = stages()["runtime"]
    users = instructions(runtime, "USER")
    assert users and users[-1].split()[1] in ("10001", "10001:10001"), users
    text = "\n".join(runtime)
    assert re.search(r"groupadd\b.*--gid 10001\b.*\bopenmmo\b", text), "no group 10001 openmmo"
    assert re.search(r"useradd\b.*--uid 10001\b.*\bopenmmo\b", text), "no user 10001 openmmo"
    assert instructions(runtime, "WORKDIR") == ["WORKDIR /app"]
    assert instructions(runtime, "COPY") == ["COPY --from=builder /opt/openmmo /opt/openmmo"]

    (healthcheck,) = instructions(runtime, "HEALTHCHECK")
    assert exec_form(healthcheck[healthcheck.index("CMD") :]) == ["openmmo", "healthcheck"]
    (entrypoint,) = instructions(runtime, "ENTRYPOINT")
    assert exec_form(entrypoint) == ["openmmo"], "exec form: openmmo must be PID 1"
    (cmd,) = instructions(runtime, "CMD")
    assert exec_form(cmd) == ["gateway"]

    exposed = {port for line in instructions(runtime, "EXPOSE") for port in line.split()[1:]}
    assert exposed == {"8080", "7000", "8081", "9090"}

    env = " ".join(instructions(runtime, "ENV"))
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "/opt/openmmo/bin"):
        assert setting in env, setting
    for build_arg in ("OPENMMO_GIT_COMMIT", "OPENMMO_BUILD_DATE"):
        assert f"ARG {build_arg}" in " ".join(instructions(runtime, "ARG"))
        assert f"{build_arg}=${{{build_arg}}}" in env, f"{build_arg} must reach /version"

    labels = " ".join(instructions(runtime, "LABEL"))
    for label in ("title", "version", "revision", "created", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in labels, label


def test_runtime_stage_has_no_build_tools_and_installs_nothing():
    runtime = stages()["runtime"]
    for line in instructions(runtime, "RUN"):
        assert not re.search(r"\bpip\d?\b[^&;|]*\binstall\b", line), f"pip install: {line}"
        assert not re.search(r"\b(apt-get|apt|apk)\b[^&;|]*\b(install|add)\b", line), line
        assert not re.search(
            r"\b(gcc|g\+\+|clang|make|build-essential|python3?-dev|libc6?-dev)\b", line
        ), f"build tool in the runtime stage: {line}"


def test_sigterm_handling_is_explained():
    text = DOCKERFILE.read_text()
    assert "PID 1" in text and "SIGTERM" in text


def test_dockerignore_keeps_the_context_to_what_the_build_copies():
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    for path in (
        ".venv/bin/python",
        ".tools/bin/helm",
        ".git/HEAD",
        "tests/deploy/test_containers.py",
        "reports/run.json",
        "var/openmmo.sqlite3",
        ".mypy_cache/x",
        ".ruff_cache/x",
        ".pytest_cache/x",
        ".hypothesis/x",
        "src/openmmo/__pycache__/cli.cpython-311.pyc",
        "deploy/compose.env",
        ".env",
        "compose.yaml",
    ):
        assert ignored(path, patterns), f"{path} would be sent to the build"
    copied = []
    for stage in stages().values():
        for line in instructions(stage, "COPY"):
            if "--from=" not in line:
                copied += line.split()[1:-1]
    assert copied
    for source in copied:
        probe = source.rstrip("/") + ("/openmmo/cli.py" if source.endswith("/") else "")
        assert not ignored(probe, patterns), f"the Dockerfile copies {source}: do not ignore it"


# --- compose.yaml ---------------------------------------------------------------------------
def test_compose_config_is_valid():
    result = compose_run("config", "-q")
    assert result.returncode == 0, output(result)


def test_compose_matches_the_compose_spec():
    result = run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)]
    )
    assert result.returncode == 0, output(result)


def test_compose_has_no_version_key_and_the_expected_services(raw_compose, compose):
    assert "version" not in raw_compose
    assert set(compose["services"]) == {
        "postgres",
        "redis",
        "rabbitmq",
        "migrate",
        "gateway",
        "zone1",
        "zone2",
        "matchmaker",
        "nginx",
        "prometheus",
        "grafana",
    }


def test_compose_refuses_to_start_without_the_secrets(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose_run("config", "-q", env_file=empty, cwd=tmp_path)
    assert result.returncode != 0, "compose started without any secret"
    assert "compose.env.example" in result.stderr, result.stderr


def test_every_published_port_is_on_localhost(compose):
    published = 0
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            published += 1
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond localhost"
        assert not service.get("network_mode"), f"{name}: no host networking"
    assert published >= 3  # nginx, prometheus, grafana


def test_every_long_running_service_has_a_healthcheck(compose):
    expected = {
        "postgres": "pg_isready",
        "redis": "redis-cli ping",
        "rabbitmq": "rabbitmq-diagnostics -q ping",
        "gateway": "openmmo healthcheck",
        "zone1": "openmmo healthcheck",
        "zone2": "openmmo healthcheck",
        "matchmaker": "openmmo healthcheck",
        "nginx": "http://127.0.0.1:8080/",
        "prometheus": "http://127.0.0.1:9090/-/ready",
        "grafana": "http://127.0.0.1:3000/api/health",
    }
    for name, service in compose["services"].items():
        if service.get("restart") == "no":
            assert name == "migrate", f"{name} is a one-shot job?"
            continue
        check = service.get("healthcheck") or {}
        assert not check.get("disable") and check.get("test"), f"{name} has no healthcheck"
        command = " ".join(check["test"][1:])
        assert expected[name] in command, f"{name}: {command}"
        assert check.get("interval") and check.get("timeout") and check.get("retries")


def test_openmmo_services_run_the_built_image_as_their_role(compose):
    services = compose["services"]
    for name in OPENMMO_SERVICES:
        service = services[name]
        assert service["image"] == IMAGE, name
        assert Path(service["build"]["context"]) == ROOT, name
        assert service["build"].get("dockerfile", "Dockerfile") == "Dockerfile", name
        assert service.get("read_only") is True, f"{name}: read-only root filesystem"
        assert "ALL" in service.get("cap_drop", []), name
        assert service["environment"]["OPENMMO_ENV"] == "production", name
        assert service.get("user") in (None, "10001", "10001:10001"), name
    assert services["migrate"]["command"] == ["migrate"]
    assert services["gateway"]["command"] == ["gateway"]
    gateway = services["gateway"]["environment"]
    assert (gateway["SERVER_PORT"], gateway["HEALTH_PORT"], gateway["METRICS_PORT"]) == (
        "8080",
        "8080",
        "8080",
    )
    (http_port,) = [p["published"] for p in services["nginx"]["ports"] if p["target"] == 8080]
    for zone in (1, 2):
        service = services[f"zone{zone}"]
        env = service["environment"]
        assert service["command"] == ["zone"]
        assert env["WORLD_ZONE_ID"] == str(zone)
        assert (env["SERVER_PORT"], env["HEALTH_PORT"], env["METRICS_PORT"]) == (
            "7000",
            "8081",
            "9090",
        )
        assert env["SERVER_NAME"] == f"zone{zone}"
        assert env["PUBLIC_WS_URL"] == f"ws://127.0.0.1:{http_port}/zone/{zone}/ws"
        drain = float(env.get("DRAIN_TIMEOUT_S", "20"))
        grace = service.get("stop_grace_period", "10s")
        assert re.fullmatch(r"\d+s", grace) and int(grace[:-1]) >= drain + 10, (
            f"zone{zone}: stop_grace_period {grace} < DRAIN_TIMEOUT_S + 10"
        )


def test_startup_order_waits_for_health_and_the_migration(compose):
    services = compose["services"]

    def needs(name):
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert needs("migrate") == {"postgres": "service_healthy"}
    for name in ("gateway", "zone1", "zone2"):
        assert needs(name) == {
            "migrate": "service_completed_successfully",
            "postgres": "service_healthy",
            "redis": "service_healthy",
            "rabbitmq": "service_healthy",
        }, name
    assert needs("nginx") == {
        "gateway": "service_healthy",
        "zone1": "service_healthy",
        "zone2": "service_healthy",
    }
    assert services["migrate"]["restart"] == "no"


def test_backends_are_not_reachable_from_outside(compose):
    assert compose["networks"]["backend"].get("internal") is True
    for name in ("postgres", "redis", "rabbitmq", *OPENMMO_SERVICES):
        assert set(compose["services"][name]["networks"]) == {"backend"}, name
        assert not compose["services"][name].get("ports"), f"{name} publishes a port"


def test_secrets_are_not_inline(raw_compose):
    example = env_file_values(ENV_EXAMPLE)
    required = set()
    for name, service in raw_compose["services"].items():
        environment = service.get("environment") or {}
        assert isinstance(environment, dict), f"{name}: use a mapping for environment"
        values = list(environment.items())
        command = [str(arg) for arg in service.get("command") or []]
        # a command's argument is named by the flag before it (`--requirepass VALUE`)
        values += list(zip(["", *command], command, strict=False))
        for key, value in values:
            value = str(value)
            required |= {m.group(1) for m in INTERPOLATION.finditer(value) if "?" in m.group(2)}
            if SECRET_NAME.search(key) or CREDENTIALS_IN_URL.search(value):
                assert INTERPOLATION.search(value), f"{name}.{key} is inline: {value!r}"
                for match in INTERPOLATION.finditer(value):
                    assert match.group(2).startswith(":?"), (
                        f"{name}.{key}: a secret needs ${{VAR:?message}}, not a default"
                    )
                stripped = INTERPOLATION.sub("", value)
                assert not CREDENTIALS_IN_URL.search(stripped), f"{name}.{key}: {value!r}"
    assert required, "no ${VAR:?} secret in compose.yaml"
    assert required <= set(example), f"missing from the example: {required - set(example)}"
    text = COMPOSE.read_text()
    for key in required:
        assert example[key].startswith("change-me"), f"{key}: the example holds placeholders"
        assert example[key] not in text, f"{key}'s placeholder is written into compose.yaml"
    assert len(example["JWT_SECRET"].encode()) >= 32, "the example JWT_SECRET must be valid"
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert "/deploy/compose.env" in gitignore and "/.env" in gitignore


def test_prometheus_and_grafana_mounts(compose):
    def mounts(name):
        return {
            m["target"]: (Path(m["source"]).resolve(), m.get("read_only", False))
            for m in compose["services"][name]["volumes"]
            if m["type"] == "bind"
        }

    prometheus = mounts("prometheus")
    assert prometheus["/etc/prometheus/prometheus.yml"] == (PROMETHEUS, True)
    assert prometheus["/etc/prometheus/rules"] == (RULES_DIR, True)
    grafana = mounts("grafana")
    assert grafana["/etc/grafana/provisioning"] == (GRAFANA, True)
    assert grafana["/var/lib/grafana/dashboards"] == (ROOT / "deploy/monitoring/dashboards", True)
    nginx = mounts("nginx")
    assert nginx["/etc/nginx/nginx.conf"] == (NGINX, True)


# --- nginx ----------------------------------------------------------------------------------
def upstream_servers():
    """{upstream name: [(host, port)]} from nginx.conf."""
    found = {}
    for name, body in re.findall(r"upstream\s+(\S+)\s*\{([^}]*)\}", NGINX.read_text()):
        found[name] = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", body, re.MULTILINE)
        assert "least_conn;" in body, f"upstream {name}: least_conn"
    return found


def nginx_copy(tmp_path, *, addresses=None, listen=None, tls_cert=None):
    """nginx.conf for this machine: compose service names (which do not resolve here) become
    local addresses, /tmp paths go to tmp_path, optionally the TLS include is enabled."""
    text = NGINX.read_text()
    for upstream in upstream_servers().values():
        for host, port in upstream:
            address = (addresses or {}).get(host, f"127.0.0.1:{port}")
            text = re.sub(rf"(\bserver\s+){re.escape(host)}:{port}\b", rf"\g<1>{address}", text)
    text = text.replace("/tmp/", f"{tmp_path}/")
    if listen is not None:
        text, count = re.subn(r"listen 8080 ", f"listen 127.0.0.1:{listen} ", text)
        assert count == 1
    if tls_cert is not None:
        tls = NGINX_TLS.read_text().replace("/etc/nginx/tls/", f"{tls_cert}/")
        (tmp_path / "tls.conf").write_text(tls)
        text, count = re.subn(
            r"# include /etc/nginx/tls\.conf;", f"include {tmp_path}/tls.conf;", text
        )
        assert count == 1, "nginx.conf has no commented TLS include"
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    return path


def nginx_test(path, tmp_path):
    nginx = system_tool("nginx", "/usr/sbin/nginx")
    return run([nginx, "-t", "-p", f"{tmp_path}/", "-e", "stderr", "-c", str(path)], timeout=30)


def test_nginx_config_is_valid(tmp_path):
    result = nginx_test(nginx_copy(tmp_path), tmp_path)
    assert result.returncode == 0, output(result)


def test_nginx_tls_example_is_valid(tmp_path):
    openssl = system_tool("openssl", hint="apt-get install openssl")
    certs = tmp_path / "certs"
    certs.mkdir()
    result = run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(certs / "tls.key"),
            "-out",
            str(certs / "tls.crt"),
        ],
        timeout=60,
    )
    assert result.returncode == 0, output(result)
    result = nginx_test(nginx_copy(tmp_path, tls_cert=certs), tmp_path)
    assert result.returncode == 0, output(result)


def test_nginx_upstreams_are_the_compose_services(compose):
    upstreams = upstream_servers()
    services = compose["services"]
    assert set(upstreams) == {"openmmo_gateway", "openmmo_zone1", "openmmo_zone2"}
    for name, servers in upstreams.items():
        service = name.removeprefix("openmmo_")
        assert servers == [(service, services[service]["environment"]["SERVER_PORT"])], name


def test_nginx_routes_headers_timeouts_and_logs():
    text = NGINX.read_text()
    assert re.search(r"map \$http_upgrade \$connection_upgrade \{[^}]*default upgrade;", text)
    for zone in (1, 2):
        match = re.search(rf"location = /zone/{zone}/ws \{{([^}}]*)\}}", text)
        assert match, f"no location for zone {zone}"
        body = match.group(1)
        assert f"proxy_pass http://openmmo_zone{zone}/ws;" in body
        assert "proxy_http_version 1.1;" in body
        assert "proxy_set_header Upgrade $http_upgrade;" in body
        assert "proxy_set_header Connection $connection_upgrade;" in body
        timeout = re.search(r"proxy_read_timeout (\d+)([smh]);", body)
        assert (
            timeout
            and int(timeout.group(1)) * {"s": 1, "m": 60, "h": 3600}[timeout.group(2)] >= 600
        ), "a long read timeout for game connections"
    gateway = re.search(r"location / \{([^}]*)\}", text).group(1)
    assert "proxy_pass http://openmmo_gateway;" in gateway
    for header in ("Host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Request-ID"):
        assert f"proxy_set_header {header} " in gateway, header
    assert re.search(r"client_max_body_size \d+k;", text)
    assert "server_tokens off;" in text
    log_format = re.search(r"log_format (\w+) escape=json(.*?);", text, re.DOTALL)
    assert log_format, "JSON access log"
    assert f"access_log /dev/stdout {log_format.group(1)};" in text
    for leaky in ("$request_uri", "$request ", '$request"', "$args", "$query_string", "$http_auth"):
        assert leaky not in log_format.group(2), f"{leaky} would log tickets or tokens"


@pytest.fixture
def edge(tmp_path):
    """The real nginx.conf in front of a real local world: yields (base URL, access log)."""
    nginx = system_tool("nginx", "/usr/sbin/nginx")
    with LocalWorld(tmp_path / "world") as world:
        port = free_port()
        config = nginx_copy(
            tmp_path,
            addresses={
                "gateway": f"127.0.0.1:{world.gateway_port}",
                "zone1": f"127.0.0.1:{world.zone_ports[0]}",
                "zone2": f"127.0.0.1:{world.zone_ports[1]}",
            },
            listen=port,
        )
        log = tmp_path / "access.log"
        with log.open("w") as stdout:
            process = subprocess.Popen(
                [
                    nginx,
                    "-p",
                    f"{tmp_path}/",
                    "-e",
                    "stderr",
                    "-c",
                    str(config),
                    "-g",
                    "daemon off;",
                ],
                stdout=stdout,
                stderr=subprocess.PIPE,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/nginx-health", timeout=1) as r:
                        assert r.status == 200
                    break
                except OSError:
                    assert process.poll() is None, process.stderr.read().decode()
                    assert time.monotonic() < deadline, "nginx did not start"
                    time.sleep(0.1)
            yield base, log
        finally:
            process.terminate()
            process.wait(10)


async def play_through(base):
    """Log in through nginx, then play each zone through its nginx path with the ticket in
    the query string (as browsers send it). Returns the tickets."""
    tickets = []
    ws_base = base.replace("http://", "ws://")
    async with GatewayClient(base) as gateway:
        await gateway.device_login("nginx-test-0001")
        for zone in (1, 2):
            grant = await gateway.join_zone(zone)
            tickets.append(grant["ticket"])
            game = await GameClient.connect(f"{ws_base}/zone/{zone}/ws", grant["ticket"])
            await game.join()
            await game.wait_snapshot(lambda c: c.me() is not None)
            assert game.me() is not None
            await game.close()
    return tickets


@pytest.mark.e2e
def test_nginx_proxies_the_api_and_the_game_of_a_local_world(edge):
    """The API and health through nginx, /metrics closed, the WebSocket upgrade to each zone
    under its path, and JSON access log lines that carry no ticket."""
    base, log = edge
    with urllib.request.urlopen(f"{base}/health/ready", timeout=5) as r:
        assert r.status == 200
    with pytest.raises(urllib.error.HTTPError) as closed:
        urllib.request.urlopen(f"{base}/metrics", timeout=5)
    assert closed.value.code == 404

    tickets = asyncio.run(play_through(base))

    deadline = time.monotonic() + 5
    while True:  # a WebSocket's line is written when nginx sees it close
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        uris = {entry["uri"] for entry in lines}
        if {"/zone/1/ws", "/zone/2/ws"} <= uris or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {"/health/ready", "/metrics", "/auth/device", "/zone/1/ws", "/zone/2/ws"} <= uris
    assert all(entry["request_id"] for entry in lines)
    ws = [entry for entry in lines if entry["uri"].startswith("/zone/")]
    assert all(entry["status"] == 101 for entry in ws), ws
    text = log.read_text()
    assert not any(ticket in text for ticket in tickets), "a ticket reached the access log"


# --- Prometheus and Grafana -----------------------------------------------------------------
def test_promtool_accepts_the_prometheus_config():
    promtool = system_tool("promtool")
    result = run([promtool, "check", "config", str(PROMETHEUS)], timeout=60)
    assert result.returncode == 0, output(result)


def test_prometheus_config_loads_the_monitoring_rules(tmp_path):
    """The same config with rule_files pointed at the repository's rules directory: the glob
    picks up deploy/monitoring/rules/*.yaml (none yet is fine) and promtool checks them."""
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yaml"]
    config["rule_files"] = [str(RULES_DIR / "*.yaml")]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    result = run([system_tool("promtool"), "check", "config", str(copy)], timeout=60)
    assert result.returncode == 0, output(result)


def test_prometheus_scrapes_gateway_zones_matchmaker_and_itself(compose):
    config = yaml.safe_load(PROMETHEUS.read_text())
    targets = {
        job["job_name"]: sorted(t for sc in job["static_configs"] for t in sc["targets"])
        for job in config["scrape_configs"]
    }
    services = compose["services"]
    gateway = services["gateway"]["environment"]["METRICS_PORT"]
    zones = [f"zone{z}:{services[f'zone{z}']['environment']['METRICS_PORT']}" for z in (1, 2)]
    matchmaker = services["matchmaker"]["environment"]["METRICS_PORT"]
    assert targets == {
        "prometheus": ["localhost:9090"],
        "openmmo-gateway": [f"gateway:{gateway}"],
        "openmmo-zone": zones,
        "openmmo-matchmaker": [f"matchmaker:{matchmaker}"],
    }
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            assert "zone" not in static.get("labels", {}), "clashes with the metrics' zone label"


def test_grafana_provisioning():
    (datasource,) = yaml.safe_load((GRAFANA / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert datasource["uid"] == "prometheus"
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((GRAFANA / "dashboards" / "openmmo.yaml").read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
