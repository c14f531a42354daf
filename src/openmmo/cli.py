"""The ``openmmo`` command: one image, the role chosen by subcommand."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from openmmo.config import ConfigError, Settings, load_settings
from openmmo.logs import configure_logging

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="OpenMMO: a cloud-native MMORPG server."
)
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", help="YAML file of settings (environment variables win).", exists=False
    ),
]


def _settings(
    config: Path | None, signing: bool = False, log_format: str | None = None, **overrides: Any
) -> Settings:
    """The settings, and logging configured by them; ``log_format`` is this command's default,
    for when neither the environment nor the config file sets LOG_FORMAT."""
    try:
        settings = load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
        if signing:
            settings.require_signing_key()
    except ConfigError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if log_format is not None and "log_format" not in settings.model_fields_set:
        settings = settings.model_copy(update={"log_format": log_format})
    configure_logging(settings.log_level, settings.log_format)
    return settings


@app.command()
def gateway(
    config: ConfigOption = None,
    port: Annotated[int | None, typer.Option(help="SERVER_PORT")] = None,
) -> None:
    """Run the gateway (HTTP API)."""
    from openmmo.compose import game_of
    from openmmo.roles import gateway_main, run

    settings = _settings(config, signing=True, server_port=port)
    _tracing("openmmo-gateway")
    try:
        game_of(settings)  # it shows the game's zones and creates characters of its classes
    except ConfigError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if settings.gateway_workers > 1:
        from openmmo.workers import check, supervise

        try:
            check(settings)
            code = supervise(settings)
        except (ConfigError, OSError) as exc:
            err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
        raise typer.Exit(code)
    run(lambda stop: gateway_main(settings, stop), settings.drain_timeout_s)


@app.command()
def zone(
    config: ConfigOption = None,
    zone_id: Annotated[int | None, typer.Option("--zone", help="WORLD_ZONE_ID")] = None,
    port: Annotated[int | None, typer.Option(help="SERVER_PORT")] = None,
) -> None:
    """Run a zone server (real-time game over WebSocket)."""
    from openmmo.compose import zone_spec
    from openmmo.roles import run, zone_main

    settings = _settings(config, signing=True, world_zone_id=zone_id, server_port=port)
    _tracing("openmmo-zone")
    try:
        zone_spec(settings.world_zone_id, settings)
    except ConfigError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    run(lambda stop: zone_main(settings, stop), settings.drain_timeout_s)


@app.command()
def matchmaker(config: ConfigOption = None) -> None:
    """Run the matchmaker (groups players from the queues in Redis; needs REDIS_URL)."""
    from openmmo.roles import matchmaker_main, run

    settings = _settings(config)
    if settings.redis_url is None:
        err.print(
            "[bold red]error:[/] invalid configuration: REDIS_URL: the matchmaker reads the "
            "queues the gateways write to Redis (`openmmo up` runs one in-process instead)"
        )
        raise typer.Exit(2)
    _tracing("openmmo-matchmaker")
    run(lambda stop: matchmaker_main(settings, stop), settings.drain_timeout_s)


def _tracing(service_name: str) -> None:
    """Tracing as the OTEL_* variables say: off unless they switch it on
    (docs/howto/tracing.md). Imported here: the other commands need none of it."""
    from openmmo.tracing import configure_tracing

    try:
        configure_tracing(service_name)
    except ConfigError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


def zone_ports_for(text: str, zones: int) -> list[int]:
    """Ports for ``zones`` zone servers from ``--zone-ports``: the listed ones, then
    consecutive ports after the last. ValueError when the list is not ports."""
    ports = [int(p) for p in text.split(",") if p.strip()]
    if not ports or any(not 0 < p < 65536 for p in ports):
        raise ValueError(text)
    while len(ports) < zones:
        ports.append(ports[-1] + 1)
    return ports[:zones]


@app.command()
def up(
    config: ConfigOption = None,
    port: Annotated[int, typer.Option(help="Gateway port.")] = 8080,
    zone_ports: Annotated[
        str, typer.Option(help="Ports of the zones, in zone order; more follow the last.")
    ] = "7001,7002",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    reload: Annotated[
        bool,
        typer.Option(
            "--reload", help="Watch the game module and swap it into the running zones on change."
        ),
    ] = False,
) -> None:
    """Run the whole world locally on the embedded defaults (SQLite, in-process bus)."""
    from openmmo.compose import game_of
    from openmmo.roles import run, up_main

    # Console lines for the person at the terminal; the server roles default to JSON.
    settings = _settings(
        config, signing=True, log_format="console", server_port=port, bind_host=host
    )
    _tracing("openmmo")
    try:
        game = game_of(settings)
    except ConfigError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    try:
        ports = zone_ports_for(zone_ports, len(game.zones))
    except ValueError:
        err.print(
            "[bold red]error:[/] --zone-ports takes ports separated by commas, like 7001,7002"
        )
        raise typer.Exit(2) from None

    def announce(places: dict[str, str]) -> None:
        table = Table(title="OpenMMO is up", show_header=False, title_justify="left")
        for name, where in places.items():
            table.add_row(name, where)
        Console().print(table)
        Console().print("Press Ctrl-C to stop.")
        sys.stdout.flush()

    run(
        lambda stop: up_main(settings, stop, ports, announce, reload=reload),
        settings.drain_timeout_s,
    )


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Bring the database schema up to date (idempotent)."""
    from openmmo.storage import StorageError
    from openmmo.storage.migrate import upgrade
    from openmmo.storage.sql import create_engine

    settings = _settings(config)

    async def main() -> tuple[str | None, str]:
        engine = create_engine(settings.sqlalchemy_url())
        try:
            return await upgrade(engine)
        finally:
            await engine.dispose()

    try:
        before, after = asyncio.run(main())
    except StorageError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    except Exception as exc:  # connection refused, bad credentials: say so, in one line
        err.print(f"[bold red]error:[/] migration failed: {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None
    print(json.dumps({"before": before, "after": after, "changed": before != after}))


@app.command()
def healthcheck(
    url: Annotated[
        str | None, typer.Option(help="Default: http://127.0.0.1:$HEALTH_PORT/health/ready")
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="Check liveness only.")] = False,
    timeout: float = 3.0,
) -> None:
    """Exit 0 if the local service is ready (or live), 1 otherwise. For HEALTHCHECK."""
    if url is None:
        port = os.environ.get("HEALTH_PORT", "8081")
        url = f"http://127.0.0.1:{port}/health/{'live' if live else 'ready'}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        err.print(f"unhealthy: {url}: {exc}")
        raise typer.Exit(1) from None
    if not ok:
        raise typer.Exit(1)
    print(f"healthy: {url}")


@app.command()
def loadtest(
    scenario_file: Annotated[Path | None, typer.Argument(help="YAML scenario file.")] = None,
    gateway: Annotated[str | None, typer.Option(help="Gateway URL.")] = None,
    bots: Annotated[int | None, typer.Option(help="Bots at the peak (flat profile).")] = None,
    duration: Annotated[
        str | None, typer.Option(help="Length of the flat profile, e.g. 60s")
    ] = None,
    ramp: Annotated[str, typer.Option(help="Ramp-up and ramp-down of the flat profile.")] = "10s",
    stages: Annotated[str | None, typer.Option(help="Stages as 10s:100,30s:100,5s:0.")] = None,
    zone: Annotated[int | None, typer.Option(help="Zone the bots join.")] = None,
    processes: Annotated[int | None, typer.Option(help="Bot processes.")] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            help="metric:expression, e.g. ack_move:p(95)<100 or errors:rate<0.001; repeatable."
        ),
    ] = None,
    chat_channel: Annotated[str | None, typer.Option(help="say, zone or global.")] = None,
    protocol: Annotated[
        int | None, typer.Option(help="2: delta snapshots (default), 1: full snapshots.")
    ] = None,
    report_dir: Annotated[Path, typer.Option(help="Where the JSON and HTML reports go.")] = Path(
        "reports"
    ),
    choose_region: Annotated[
        bool,
        typer.Option(
            "--choose-region",
            help="Ask the gateway for the regions, time their pings, play in the nearest.",
        ),
    ] = False,
) -> None:
    """Play the world with bots in stages; exit 1 when a threshold fails."""
    import dataclasses
    import secrets

    from openmmo.loadtest import scenario as sc
    from openmmo.loadtest.runner import run

    try:
        base = sc.load(scenario_file) if scenario_file else sc.Scenario()
        changes: dict[str, Any] = {"run_id": secrets.token_hex(3)}
        if gateway:
            changes["gateway"] = gateway
        if zone is not None:
            changes["zone"] = zone
        if processes is not None:
            changes["processes"] = processes
        if protocol is not None:
            changes["protocol"] = protocol
        if stages:
            changes["stages"] = sc.stages_from_text(stages)
        elif bots is not None or duration is not None:
            peak = bots if bots is not None else base.peak
            ramp_s = sc.parse_duration(ramp)
            hold = sc.parse_duration(duration or "30s")
            changes["stages"] = (
                sc.Stage(ramp_s, peak),
                sc.Stage(hold, peak),
                sc.Stage(min(ramp_s, 5.0), 0),
            )
        if threshold:
            extra = []
            for item in threshold:
                metric, sep, expression = item.partition(":")
                if not sep:
                    raise sc.ScenarioError(f"threshold {item!r}: use metric:expression")
                extra.append(sc.parse_threshold(metric, expression))
            changes["thresholds"] = base.thresholds + tuple(extra)
        if chat_channel:
            changes["behaviour"] = dataclasses.replace(base.behaviour, chat_channel=chat_channel)
        scenario = dataclasses.replace(base, **changes)
        sc.validate(scenario)
    except sc.ScenarioError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if choose_region:
        from openmmo.client.regions import NoRegion
        from openmmo.client.regions import choose_region as choose

        try:
            choice = asyncio.run(choose([scenario.gateway]))
        except NoRegion as exc:
            err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
        pings = ", ".join(
            f"{name} {'-' if ms is None else f'{ms:.0f} ms'}"
            for name, ms in sorted(choice.rtt_ms.items())
        )
        print(f"bots play in region {choice.region} ({choice.reason}; pings: {pings})")
        scenario = dataclasses.replace(scenario, gateway=choice.gateway_url)
    raise typer.Exit(run(scenario, report_dir))


@app.command()
def chaos(
    scenario: Annotated[
        str,
        typer.Argument(
            help="kill-zone, rolling-restart, reconnect-storm, or a dependency fault: "
            "redis|postgres|rabbitmq-down, redis|postgres-partition, redis|postgres-latency; "
            "with --kube: kill-zone, rolling-restart, cordon-zone-node."
        ),
    ],
    players: Annotated[int, typer.Option(min=1, max=2000, help="Players in the world.")] = 24,
    down: Annotated[
        float, typer.Option(min=1, max=600, help="Seconds a dependency stays down.")
    ] = 30.0,
    report_dir: Annotated[Path, typer.Option(help="Where the JSON and HTML reports go.")] = Path(
        "reports"
    ),
    kube: Annotated[
        bool, typer.Option("--kube", help="Against the cluster of your kubeconfig (kubectl).")
    ] = False,
    namespace: Annotated[str, typer.Option(help="With --kube: the world's namespace.")] = "default",
    context: Annotated[
        str | None, typer.Option(help="With --kube: the kubeconfig context.")
    ] = None,
    gateway: Annotated[
        str | None, typer.Option(help="With --kube: the world's public gateway URL.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --kube: print what would be done; send nothing.")
    ] = False,
) -> None:
    """Put a fault into a world under play and measure what the players went through: a
    local world of processes on this machine's PostgreSQL, Redis and RabbitMQ (what is
    killed is a throwaway instance), or with --kube a world in a Kubernetes cluster. Exit 1
    when a check fails."""
    try:
        from openmmo.chaos import SCENARIOS, Options, run, run_kube, write_report
        from openmmo.chaos.kube import KUBE, Kube, KubeError, plan
    except ImportError as exc:  # plotly, for the report, is an extra
        err.print(
            f"[bold red]error:[/] {exc}: install openmmo[reports] (pip install 'openmmo[reports]')"
        )
        raise typer.Exit(2) from None
    known = KUBE if kube else SCENARIOS
    if scenario not in known:
        err.print(f"[bold red]error:[/] unknown scenario {scenario!r}; one of: {', '.join(known)}")
        raise typer.Exit(2)
    if dry_run and not kube:
        err.print("[bold red]error:[/] --dry-run is for --kube (a local run touches nothing else)")
        raise typer.Exit(2)
    configure_logging("warning", "console")
    options = Options(players=players, down_s=down)
    if kube:
        cluster = Kube(namespace=namespace, context=context)
        try:
            if dry_run:
                for command in plan(cluster, scenario):
                    print(command)
                return
            if not gateway:
                err.print("[bold red]error:[/] --kube needs --gateway, the world's public URL")
                raise typer.Exit(2)
            cluster.zone_pods()  # the cluster answers, and has zone pods, before any player joins
            result = asyncio.run(run_kube(scenario, options, cluster, gateway))
        except KubeError as exc:
            err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from None
    else:
        result = asyncio.run(run(scenario, options))
    json_path, html_path = write_report(result, report_dir)
    print(f"chaos {result.scenario}:")
    for key, value in result.figures.items():
        if key != "timeline":
            print(f"  {key}: {value}")
    for check in result.checks:
        print(f"  {'PASS' if check.passed else 'FAIL'} {check.check} (was {check.value})")
    print(f"reports: {json_path}, {html_path}")
    raise typer.Exit(0 if result.passed else 1)


admin_app = typer.Typer(no_args_is_help=True, help="Operator actions on a running world.")
app.add_typer(admin_app, name="admin")


def _admin(coroutine: Any) -> Any:
    from openmmo.admin import AdminError

    try:
        return asyncio.run(coroutine)
    except AdminError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None


@admin_app.command("ban")
def admin_ban(
    username: str,
    config: ConfigOption = None,
    reason: Annotated[str, typer.Option(help="Recorded in the audit log.")] = "",
    unban: Annotated[bool, typer.Option("--unban")] = False,
) -> None:
    """Ban an account: its tokens are revoked and its players kicked from every server."""
    from openmmo.admin import ban

    print(_admin(ban(_settings(config, signing=True), username, not unban, reason)))


@admin_app.command("grant-admin")
def admin_grant(
    username: str,
    config: ConfigOption = None,
    revoke: Annotated[bool, typer.Option("--revoke", help="Take the admin role away.")] = False,
) -> None:
    """Let an account use the web console (/console) and the admin API; audited."""
    from openmmo.admin import grant_admin

    print(_admin(grant_admin(_settings(config), username, not revoke)))


@admin_app.command("announce")
def admin_announce(message: str, config: ConfigOption = None) -> None:
    """Show a message to every player on every server."""
    from openmmo.admin import announce

    print(_admin(announce(_settings(config), message)))


@admin_app.command("audit")
def admin_audit(config: ConfigOption = None) -> None:
    """Check every inventory against the item ledger; exit 1 on any difference."""
    from openmmo.admin import audit_items

    totals, discrepancies = _admin(audit_items(_settings(config)))
    print(
        json.dumps(
            {
                "items": totals,
                "discrepancies": [
                    {
                        "character_id": d.character_id,
                        "item": d.item,
                        "inventory": d.inventory,
                        "ledger": d.ledger,
                    }
                    for d in discrepancies
                ],
            }
        )
    )
    if discrepancies:
        raise typer.Exit(1)


def _instant(text: str | None) -> float | None:
    """``--at``/``--from``/``--to``: Unix seconds or an ISO 8601 time (UTC unless it says)."""
    if text is None:
        return None
    from datetime import UTC, datetime

    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        err.print(f"[bold red]error:[/] {text!r} is not a time (Unix seconds or ISO 8601)")
        raise typer.Exit(2) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def _own_namespace() -> str:
    """The namespace of the pod this runs in (its service account's), else ``default``."""
    try:
        return Path(SERVICE_ACCOUNT_NAMESPACE).read_text().strip() or "default"
    except OSError:
        return "default"


def _need_scaling_extra() -> None:
    try:
        import kubernetes  # noqa: F401
        import statsmodels  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as exc:
        err.print(f"[bold red]error:[/] {exc}: install openmmo[scaling] (in the server image)")
        raise typer.Exit(2) from None


@app.command("predict-scale")
def predict_scale(
    prometheus: Annotated[str | None, typer.Option(help="Prometheus URL (PROMETHEUS_URL).")] = None,
    horizon: Annotated[
        float | None,
        typer.Option(help="Minutes ahead (PREDICTION_HORIZON_MINUTES, default 30)."),
    ] = None,
    headroom: Annotated[
        float | None, typer.Option(help="Margin above the peak (PREDICTION_HEADROOM, 0.2).")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="Plan as of this time (Unix seconds or ISO 8601; default now)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    push: Annotated[
        str | None,
        typer.Option(help="Push openmmo_predicted_channels{zone} to this Pushgateway."),
    ] = None,
    patch: Annotated[
        bool,
        typer.Option("--patch", help="Set each zone HPA's minReplicas to its channels."),
    ] = False,
    namespace: Annotated[
        str | None,
        typer.Option(help="The HPAs' namespace (default: the pod's own, else `default`)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the push/patch instead of doing it.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Forecast players per zone from Prometheus and recommend channels for the next
    PREDICTION_HORIZON_MINUTES: print the plan, push it as a metric for KEDA or
    prometheus-adapter, or patch the zone HPAs' minReplicas. A zone whose history does not
    allow a forecast is left unchanged (its HPA keeps scaling reactively); exit 1 then."""
    from openmmo.scaling.predict import run

    _need_scaling_extra()
    settings = _settings(
        config,
        log_format="console",
        prometheus_url=prometheus,
        prediction_horizon_minutes=horizon,
        prediction_headroom=headroom,
    )
    namespace = namespace or _own_namespace()
    raise typer.Exit(run(settings, _instant(at), as_json, push, patch, namespace, dry_run))


@app.command("cost-report")
def cost_report(
    since: Annotated[str, typer.Option("--from", help="Start (Unix seconds or ISO 8601).")],
    until: Annotated[str, typer.Option("--to", help="End (Unix seconds or ISO 8601).")],
    prometheus: Annotated[str | None, typer.Option(help="Prometheus URL (PROMETHEUS_URL).")] = None,
    step: Annotated[float, typer.Option(min=15, help="Resolution in seconds.")] = 300,
    report_dir: Annotated[Path, typer.Option(help="Where cost.json and cost.html go.")] = Path(
        "reports"
    ),
    config: ConfigOption = None,
) -> None:
    """Cost per player-hour over a range, split into compute and egress, idle capacity, wasted
    cost, and what predictive scaling saved against the reactive HPA: printed, and written as
    JSON and an HTML page with plots. Prices from COST_PRICES; history from Prometheus."""
    from openmmo.scaling.cost import CostError, report, write_report
    from openmmo.scaling.prometheus import Prometheus, PrometheusError

    settings = _settings(config, log_format="console", prometheus_url=prometheus)
    if settings.cost_prices is None:
        err.print("[bold red]error:[/] COST_PRICES is not set: the price sheet to cost with")
        raise typer.Exit(2)
    if not settings.prometheus_url:
        err.print("[bold red]error:[/] PROMETHEUS_URL is not set (the Prometheus to read)")
        raise typer.Exit(2)
    start, end = _instant(since), _instant(until)
    assert start is not None and end is not None
    try:
        with Prometheus(settings.prometheus_url) as client:
            result = report(
                client, settings.cost_prices, start, end, step, settings.prediction_zones or None
            )
    except (CostError, PrometheusError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    figures = result.figures
    currency = figures["currency"]
    print(f"cost {figures['cost']:.2f} {currency} over {figures['hours']} h:")
    for key, value in figures.items():
        if key not in ("currency", "from", "to"):
            print(f"  {key}: {value}")
    for zone in result.zones:
        print(
            f"  zone {zone['zone']}: {json.dumps({k: v for k, v in zone.items() if k != 'zone'})}"
        )
    try:
        json_path, html_path = write_report(result, report_dir)
    except ImportError as exc:
        err.print(f"[yellow]no HTML page:[/] {exc}: install openmmo[reports]")
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "cost.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
        print(f"report: {report_dir / 'cost.json'}")
        return
    print(f"reports: {json_path}, {html_path}")


@app.command("federation-definitions")
def federation_definitions(
    upstream: Annotated[
        list[str],
        typer.Option(help="REGION=AMQP_URI of another region's broker (once per region)."),
    ],
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    vhost: Annotated[str, typer.Option(help="The brokers' virtual host.")] = "/",
    config: ConfigOption = None,
) -> None:
    """RabbitMQ definitions that federate this region's broker with the others' (global chat
    and whispers cross regions): load them with `rabbitmqctl import_definitions`. REGION and
    NAMESPACE from the settings; every region of REGIONS but this one must be named."""
    from openmmo.bus.federation import FederationError, definitions

    settings = _settings(config, log_format="console")
    upstreams: dict[str, str] = {}
    for item in upstream:
        name, sep, uri = item.partition("=")
        if not sep:
            err.print(f"[bold red]error:[/] --upstream {item!r} is not REGION=AMQP_URI")
            raise typer.Exit(2)
        upstreams[name] = uri
    others = {r.name for r in settings.regions} - {settings.region}  # empty: REGIONS unset
    missing = others - set(upstreams)
    unknown = set(upstreams) - others if others else set()
    try:
        if missing or unknown:
            raise FederationError(
                f"REGIONS lists {sorted(others)} besides {settings.region!r}; "
                f"missing: {sorted(missing)}, not in REGIONS: {sorted(unknown)}"
            )
        document = definitions(settings.namespace, settings.region, upstreams, vhost=vhost)
    except FederationError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    text = json.dumps(document, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        out.chmod(0o600)  # it holds the other brokers' credentials


@app.command()
def version() -> None:
    """Print version, git commit and build date."""
    from openmmo.ops.version import build_info

    print(json.dumps(build_info()))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
