"""HTTP plumbing: error shape, size limits, OpenAPI, operator endpoints, metrics."""

from openmmo.gateway.routes import OPERATIONS


async def test_unknown_paths_and_methods_get_json_errors(gw):
    missing = await gw.http.get("/nope")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    wrong = await gw.http.get("/auth/login")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")


async def test_oversized_bodies_are_refused(gw):
    body = b'{"username": "' + b"a" * 20000 + b'"}'
    response = await gw.http.post(
        "/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")

    async def chunks():
        for _ in range(20):
            yield b"x" * 1024

    chunked = await gw.http.post("/auth/login", content=chunks())
    assert chunked.status_code == 413


async def test_openapi_describes_every_route(gw):
    document = (await gw.http.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    described = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert described == {(op.method, op.path.replace(":int", "")) for op in OPERATIONS}
    login = document["paths"]["/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Credentials"
    }
    assert "401" in login["responses"]
    assert "TokenPair" in document["components"]["schemas"]


async def test_request_ids_are_echoed_or_made(gw):
    given = await gw.http.get("/health/live", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await gw.http.get("/health/live", headers={"x-request-id": "bad id!"})
    assert made.headers["x-request-id"] != "bad id!" and len(made.headers["x-request-id"]) == 16


async def test_health_live_ready_version_and_metrics(gw):
    assert (await gw.http.get("/health/live")).json() == {"status": "live"}
    ready = await gw.http.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    gw.health.draining = True
    draining = await gw.http.get("/health/ready")
    assert draining.status_code == 503 and draining.json()["checks"]["draining"] == "draining"
    assert set((await gw.http.get("/version")).json()) == {
        "version",
        "git_commit",
        "build_date",
        "python",
    }
    await gw.http.get("/api/zones")
    metrics = (await gw.http.get("/metrics")).text
    assert (
        'openmmo_http_request_duration_seconds_count{method="GET",route="/api/zones",'
        'status="401"}' in metrics
    )


async def test_a_failing_dependency_makes_ready_false_not_live(gw):
    async def database_down():
        raise ConnectionError("connection refused")

    gw.health.add_check("database", database_down)
    ready = await gw.http.get("/health/ready")
    assert ready.status_code == 503
    assert "connection refused" in ready.json()["checks"]["database"]
    assert (await gw.http.get("/health/live")).status_code == 200
