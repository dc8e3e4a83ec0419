"""The container image of ``docker/Dockerfile``, built here as a user builds it (from ``debian:bookworm-slim``,
which testkit.container makes with mmdebstrap and imports: no container registry) and run with podman on the
host's network, its unit on a loopback address of its own, its state folder bind-mounted: the ready file
appears there, the health check passes, and the unit answers through its API with its credentials only."""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.container import Podman, build_image, emulator_image, free_loopback, podman

UID = 10001  # the image's unprivileged user (docker/Dockerfile)


@pytest.fixture(scope="module")
def image() -> tuple[Podman, str]:
    pm = podman()
    return pm, emulator_image(pm)


def call(url: str, method: str = "GET", body: Any = None, user: str = "public", password: str = "") -> tuple[int, Any]:
    auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": auth, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, None


def wait_for_file(path: Path, pm: Podman, name: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not path.exists():
        state = pm("inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()
        if state not in ("running", "created", "configured", "initialized"):
            pytest.fail(f"the container is {state!r} before its ready file:\n{pm('logs', name, check=False).stdout}")
        if time.monotonic() > deadline:
            pytest.fail(f"no ready file after {timeout} s:\n{pm('logs', name, check=False).stdout}")
        time.sleep(0.2)
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


@pytest.fixture
def state(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir()
    if os.geteuid() == 0:
        os.chown(d, UID, UID)  # the folder the unprivileged user owns, as the README tells users
    return d


@pytest.fixture
def container(image: tuple[Podman, str]) -> Iterator[str]:
    pm, _ = image
    name = f"dgw-test-image-{os.getpid()}"
    pm("rm", "-f", name, check=False)
    yield name
    pm("rm", "-f", "-t", "2", name, check=False)


def test_the_image_is_debian_python_311_unprivileged_with_a_state_volume_and_a_health_check(
        image: tuple[Podman, str]) -> None:
    pm, ref = image
    [info] = json.loads(pm("image", "inspect", ref).stdout)
    config = info["Config"]
    assert config["User"] == "dgw" and "/var/lib/dgw" in config["Volumes"]
    assert config["Entrypoint"] == ["dgw-emulator"]
    assert "--ready-file" in config["Cmd"] and "/var/lib/dgw/ready.json" in config["Cmd"]
    assert "healthcheck.py" in " ".join(info["Healthcheck"]["Test"])
    out = pm("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", ref, "-c",
             ". /etc/os-release && echo $VERSION_CODENAME && python3 --version && id -u "
             "&& dgw-emulator run --help >/dev/null && echo ok").stdout.split("\n")
    assert out[0] == "bookworm" and out[1].startswith("Python 3.11.") and out[2:] == [str(UID), "ok", ""], out


def test_the_unit_in_its_container_is_ready_healthy_and_answers_its_api(
        image: tuple[Podman, str], state: Path, container: str) -> None:
    pm, ref = image
    host = free_loopback()
    ready = state / "ready.json"
    # What a user runs with the host's network: the default command, on a loopback address of the unit's own.
    pm("run", "-d", "--name", container, "--network", "host", "-v", f"{state}:/var/lib/dgw", ref,
       "run", "--host", host, "--state-dir", "/var/lib/dgw", "--ready-file", "/var/lib/dgw/ready.json")
    doc = wait_for_file(ready, pm, container)
    [unit] = doc["units"]
    api = unit["api"]
    assert api == f"http://{host}:8000" and unit["profile"] == "4102"
    assert doc["pid"] == 1  # the emulator itself is the container's first process: it gets the stop signal
    assert ready.stat().st_uid == UID  # written by the image's unprivileged user
    health = pm("healthcheck", "run", container, check=False)
    assert health.returncode == 0, health.stdout

    assert call(f"{api}/api/v1/parameters/Hoc.SystemName")[0] == 200
    assert call(f"{api}/api/v1/parameters/Hoc.SystemName", password="wrong")[0] == 401
    assert call(f"{api}/api/v1/parameters/Hoc.SystemName", user="nobody")[0] == 401
    status, _ = call(f"{api}/api/v1/parameters/Hoc.SystemName", "PUT", {"value": "in-a-container"})
    assert status == 200
    assert call(f"{api}/api/v1/parameters/Hoc.SystemName")[1]["value"] == "in-a-container"

    # SIGTERM (podman stop) ends it cleanly; its configuration is in the bind-mounted state folder.
    pm("stop", "-t", "30", container)
    assert pm("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip() == "0"
    ready.unlink()
    pm("start", container)
    doc = wait_for_file(ready, pm, container)
    assert doc["units"][0]["api"] == api
    assert call(f"{api}/api/v1/parameters/Hoc.SystemName")[1]["value"] == "in-a-container"
    assert pm("healthcheck", "run", container, check=False).returncode == 0


def test_the_health_check_is_unhealthy_until_the_ready_file_names_a_running_unit(
        image: tuple[Podman, str], state: Path, container: str) -> None:
    """A ready file left by an earlier start (another process, an API nobody answers) is not health."""
    pm, ref = image
    stale = {"units": [{"name": "unit1", "api": "http://127.0.0.1:1"}], "pid": 999999}
    (state / "ready.json").write_text(json.dumps(stale))
    os.chmod(state / "ready.json", 0o644)
    # A container whose process only sleeps: the stale file is all the health check has to go by.
    pm("run", "-d", "--name", container, "--network", "none", "-v", f"{state}:/var/lib/dgw",
       "--entrypoint", "sleep", ref, "300")
    health = pm("healthcheck", "run", container, check=False)
    assert health.returncode != 0 and "unhealthy" in health.stdout, health.stdout
    stale["pid"] = 1  # the running process, but its API does not answer
    (state / "ready.json").write_text(json.dumps(stale))
    health = pm("healthcheck", "run", container, check=False)
    assert health.returncode != 0 and "unhealthy" in health.stdout, health.stdout


def test_the_default_command_serves_every_address_of_the_containers_own_network(
        image: tuple[Podman, str], state: Path, container: str) -> None:
    """``docker run IMAGE`` as the README gives it, in a network namespace of its own (``--network none``: its
    loopback alone, nothing published): ready, healthy, and its API answers inside the container."""
    pm, ref = image
    pm("run", "-d", "--name", container, "--network", "none", "-v", f"{state}:/var/lib/dgw", ref)
    doc = wait_for_file(state / "ready.json", pm, container)
    assert [u["api"] for u in doc["units"]] == ["http://0.0.0.0:8000"]
    assert pm("healthcheck", "run", container, check=False).returncode == 0
    probe = ("import base64, urllib.request as u; r = u.Request('http://127.0.0.1:8000/api/v1/parameters/Hoc.SystemName',"
             " headers={'Authorization': 'Basic ' + base64.b64encode(b'public:').decode()}); "
             "print(u.urlopen(r, timeout=10).status)")
    assert pm("exec", container, "python3", "-c", probe).stdout.strip() == "200"


def test_a_built_image_is_reused_until_an_input_its_context_lets_through_changes(
        image: tuple[Podman, str], tmp_path: Path) -> None:
    """The cache of testkit.container, as `make test` relies on it: the same inputs give the same image (not
    built again: same id and creation time); a changed file the build context passes gives a new image and the
    old tag goes; a file the .dockerignore leaves out changes nothing."""
    pm, _ = image
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM debian:bookworm-slim\nCOPY hello /hello\n")
    (ctx / ".dockerignore").write_text("*\n!hello\n")
    (ctx / "hello").write_text("one\n")
    (ctx / "notes.txt").write_text("left out\n")
    name = f"dgw-test-cache-{os.getpid()}"

    def built() -> tuple[str, str]:
        ref = build_image(pm, name, ctx / "Dockerfile", ctx)
        return ref, pm("image", "inspect", "--format", "{{.Id}} {{.Created}}", ref).stdout.strip()

    try:
        first, first_id = built()
        assert built() == (first, first_id)
        (ctx / "notes.txt").write_text("changed, still left out\n")
        assert built() == (first, first_id)
        (ctx / "hello").write_text("two\n")
        second, second_id = built()
        assert second != first and second_id != first_id
        assert pm("run", "--rm", "--network", "none", second, "cat", "/hello").stdout == "two\n"
        assert not pm.image_exists(first)
    finally:
        for ref in pm("images", "--format", "{{.Repository}}:{{.Tag}}", f"localhost/{name}").stdout.split():
            pm("rmi", "-f", ref, check=False)
