"""The project's container images, built and run with podman on this machine without any container registry.

The Dockerfiles under ``docker/`` start ``FROM debian:bookworm-slim``. Here that base is a Debian 12 root
filesystem made by mmdebstrap from Debian's package archive and imported into podman's local storage under that
name, so ``podman build --pull=never`` builds the very Dockerfiles a user builds with docker. Python wheels come
from a wheelhouse that pip downloads on the host (the host's pip configuration: its index, its certificates)
and that the build mounts read-only (``PIP_OPTIONS="--no-index --find-links /wheels"``).

Everything lives in a cache folder outside the repository (``DGW_CONTAINER_CACHE``, else
``/var/cache/dgw-emulator-tests`` for root, ``~/.cache/dgw-emulator-tests`` otherwise), reused while its inputs
are unchanged: the root filesystem tarball (keyed by the mmdebstrap recipe), the wheelhouse (by
pyproject.toml's dependencies) and each image (tagged with a hash of its Dockerfile, of the files its build
context lets through and of the base's key). A cold cache costs a few minutes (mmdebstrap, apt-get and pip in
the builds); a warm one a ``podman image exists``. podman runs with a configuration of our own (``runc``,
``cgroupfs``, no events log, explicit ulimits, podman's storage in the cache), given to every podman command
through ``CONTAINERS_CONF``/``CONTAINERS_STORAGE_CONF``/``CONTAINERS_REGISTRIES_CONF``: the host's own
configuration and image storage are not used (podman still keeps its blob cache in /var/lib/containers/cache).
Containers use the host's network (loopback addresses) or none: no bridge, no firewall rule.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from testkit.peers import require_peer

__all__ = ["BASE_IMAGE", "LAB_PEERS", "ROOT", "Podman", "build_image", "cache_dir", "context_files", "emulator_image",
           "free_loopback", "lab_images", "podman", "podman_compose"]

ROOT = Path(__file__).resolve().parents[1]
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
_SUITE = "bookworm"
_SOURCES = (
    "deb http://deb.debian.org/debian bookworm main",
    "deb http://deb.debian.org/debian bookworm-updates main",
    "deb http://deb.debian.org/debian-security bookworm-security main",
)
# Like Debian's -slim images: minbase, no manual pages, documentation (but copyright files) or translations; the
# package lists are kept, so that each build's `apt-get update` finds them current rather than downloading them.
_MMDEBSTRAP_OPTIONS = (
    "--variant=minbase", "--format=tar", "--skip=cleanup/apt/lists",
    "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright", "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--aptopt=Acquire::Languages \"none\"",
)
_LABEL = "dgw_emulator_tests_key"


def cache_dir() -> Path:
    """Where the root filesystem, the wheelhouse and podman's storage are kept between runs."""
    env = os.environ.get("DGW_CONTAINER_CACHE")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/cache/dgw-emulator-tests")
    return Path.home() / ".cache" / "dgw-emulator-tests"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "big") + p)
    return h.hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder at a time per cache (two test runs on one machine wait for each other)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass
class Podman:
    """podman with this kit's configuration and storage; calls return the completed process."""

    home: Path
    binary: str
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, check: bool = True, timeout: float = 600,
                 capture: bool = True) -> subprocess.CompletedProcess[str]:
        """stdout and stderr apart (podman's own complaints, e.g. no systemd for health check timers, go to
        stderr); ``check``: raise with both when the command fails."""
        pipe = subprocess.PIPE if capture else None
        proc = subprocess.run([self.binary, *args], env=self.env, text=True, timeout=timeout, stdout=pipe,
                              stderr=pipe, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} failed ({proc.returncode}):\n"
                               f"{(proc.stdout or '')[-3000:]}\n{(proc.stderr or '')[-3000:]}")
        return proc

    def image_exists(self, ref: str) -> bool:
        return self("image", "exists", ref, check=False).returncode == 0

    def label(self, ref: str, name: str = _LABEL) -> str | None:
        out = self("image", "inspect", "--format", "{{index .Labels \"" + name + "\"}}", ref, check=False)
        value = out.stdout.strip() if out.returncode == 0 else ""
        return value if value and value != "<no value>" else None

    def base_key(self) -> str:
        """The base image's key (the root filesystem it was imported from), importing it when needed."""
        tar, key = debian_rootfs(self.home)
        with _locked(self.home / "base.lock"):
            if self.label(BASE_IMAGE) == key:
                return key
            self("import", "--change", f"LABEL {_LABEL}={key}", "--change", 'CMD ["bash"]', str(tar), BASE_IMAGE,
                 timeout=600)
        return key


def _ulimits() -> tuple[str, str]:
    """At or below this process's hard limits: podman raises them by default, which a root without
    CAP_SYS_RESOURCE may not (runc: "error setting rlimit")."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    n = 65536 if nofile == resource.RLIM_INFINITY else min(nofile, 65536)
    p = 4096 if nproc == resource.RLIM_INFINITY else min(nproc, 4096)
    return f"nofile={n}:{n}", f"nproc={p}:{p}"


def _storage_driver() -> str:
    """overlay where the kernel has it (a layer costs nothing), vfs (a full copy per layer) otherwise."""
    chosen = os.environ.get("DGW_PODMAN_STORAGE_DRIVER")
    if chosen:
        return chosen
    try:
        return "overlay" if "overlay" in Path("/proc/filesystems").read_text().split() else "vfs"
    except OSError:
        return "vfs"


def podman() -> Podman:
    """podman configured for this machine's kernel and this kit's cache (fails or skips when not installed)."""
    peers = require_peer("podman", "runc", "mmdebstrap")
    home = cache_dir()
    conf = home / "podman"
    for d in ("storage", "run", "tmp"):
        (conf / d).mkdir(parents=True, exist_ok=True)
    nofile, nproc = _ulimits()
    (conf / "containers.conf").write_text(
        "[containers]\n"
        f'default_ulimits = ["{nofile}", "{nproc}"]\n'
        "[engine]\n"
        'cgroup_manager = "cgroupfs"\n'  # the hybrid cgroup v1/v2 hierarchy here: crun refuses it, runc copes
        'events_logger = "none"\n'
        f'runtime = "{peers["runc"]}"\n'
        f'tmp_dir = "{conf / "tmp"}"\n'
    )
    (conf / "storage.conf").write_text(
        f'[storage]\ndriver = "{_storage_driver()}"\ngraphroot = "{conf / "storage"}"\nrunroot = "{conf / "run"}"\n'
    )
    (conf / "registries.conf").write_text('unqualified-search-registries = ["docker.io"]\n')
    env = dict(os.environ, CONTAINERS_CONF=str(conf / "containers.conf"),
               CONTAINERS_STORAGE_CONF=str(conf / "storage.conf"),
               CONTAINERS_REGISTRIES_CONF=str(conf / "registries.conf"))
    return Podman(home=home, binary=peers["podman"], env=env)


def debian_rootfs(home: Path) -> tuple[Path, str]:
    """The Debian 12 root filesystem tarball and its key, made by mmdebstrap when missing."""
    key = _digest(_SUITE.encode(), "\n".join(_SOURCES).encode(), "\n".join(_MMDEBSTRAP_OPTIONS).encode())[:16]
    tar = home / "rootfs" / f"debian-{_SUITE}-{key}.tar"
    with _locked(home / "rootfs.lock"):
        if not tar.exists():
            tar.parent.mkdir(parents=True, exist_ok=True)
            for old in tar.parent.glob("debian-*.tar*"):
                old.unlink()
            part = tar.with_suffix(".tar.part")
            proc = subprocess.run(["mmdebstrap", *_MMDEBSTRAP_OPTIONS, _SUITE, str(part), *_SOURCES],
                                  capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                part.unlink(missing_ok=True)
                raise RuntimeError(f"mmdebstrap failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
            part.rename(tar)
    return tar, key


def wheelhouse(home: Path) -> Path:
    """The wheels of the package's run-time dependencies (and its build backend), downloaded by the host's pip."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = [*project["project"]["dependencies"], *project["project"]["optional-dependencies"]["speed"],
              *project["build-system"]["requires"]]
    key = _digest(sys.version.encode(), "\n".join(wanted).encode())[:16]
    target = home / "wheels" / key
    with _locked(home / "wheels.lock"):
        if not (target / ".complete").exists():
            shutil.rmtree(home / "wheels", ignore_errors=True)
            target.mkdir(parents=True)
            proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                                   "--only-binary", ":all:", "-d", str(target), *wanted],
                                  capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
            if proc.returncode != 0:
                raise RuntimeError(f"pip download failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
            (target / ".complete").write_text("\n".join(wanted) + "\n")
    return target


def context_files(context: Path) -> list[Path]:
    """The files a build context passes to the build: with a ``.dockerignore`` of the "``*`` then ``!name``"
    kind (the repository's), the files under each allowed name; otherwise every file. Caches and compiled
    files never count."""
    ignore = context / ".dockerignore"
    roots = [context]
    if ignore.exists():
        lines = [ln.strip() for ln in ignore.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        if "*" in lines:
            roots = [context / ln[1:] for ln in lines if ln.startswith("!")]
    files: list[Path] = []
    for root in roots:
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files.extend(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                         and p.suffix != ".pyc")
    return sorted(set(files))


def build_image(pm: Podman, name: str, dockerfile: Path, context: Path, *, pip: bool = False,
                timeout: float = 1200) -> str:
    """``localhost/NAME:KEY`` built from ``dockerfile`` on the imported Debian base, unless an image with that
    key is in the storage already. ``pip``: mount the wheelhouse and install from it alone. Older tags of NAME
    are removed once the new one exists (podman keeps the layers the next build reuses)."""
    base = pm.base_key()
    h = hashlib.sha256(base.encode())
    h.update(dockerfile.read_bytes())
    for f in context_files(context):
        h.update(str(f.relative_to(context)).encode() + b"\0" + f.read_bytes() + b"\0")
    ref = f"localhost/{name}:{h.hexdigest()[:16]}"
    with _locked(pm.home / f"build-{name}.lock"):
        if pm.image_exists(ref):
            return ref
        args: list[str] = ["build", "--pull=never", "--network", "host", "--format", "docker", "--jobs", "2",
                           "-f", str(dockerfile), "-t", ref, "--label", f"{_LABEL}={ref}"]  # jobs: stages at once
        if pip:
            wheels = wheelhouse(pm.home)
            args += ["-v", f"{wheels}:/wheels:ro", "--build-arg", "PIP_OPTIONS=--no-index --find-links /wheels"]
        pm(*args, str(context), timeout=timeout)
        for line in pm("images", "--format", "{{.Repository}}:{{.Tag}}", f"localhost/{name}").stdout.split():
            if line != ref and line.startswith(f"localhost/{name}:"):
                pm("rmi", line, check=False)
        pm("image", "prune", "-f", "--filter", "until=168h", check=False)  # build layers unused for a week
    return ref


def emulator_image(pm: Podman) -> str:
    """The dgw-emulator image from ``docker/Dockerfile`` (the repository as its build context)."""
    return build_image(pm, "dgw-emulator", ROOT / "docker" / "Dockerfile", ROOT, pip=True)


def free_loopback(ports: Sequence[int] = (8000,)) -> str:
    """A 127.x.y.z address (outside 127.0.0.0/16, which the other tests use) on which ``ports`` are free."""
    for _ in range(50):
        host = f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.{random.randint(2, 254)}"
        try:
            for port in ports:
                with socket.socket() as s:
                    s.bind((host, port))
        except OSError:
            continue
        return host
    raise RuntimeError("no free loopback address")


LAB_PEERS = ("kamailio", "rsyslog", "chrony")


def lab_images(pm: Podman) -> dict[str, str]:
    """Every image ``docker/compose.yaml`` runs, built here, as the variables that name them to compose."""
    pm.base_key()
    with ThreadPoolExecutor(len(LAB_PEERS) + 1) as pool:  # apt and pip wait on the network more than on the CPU
        builds = {f"DGW_{peer.upper()}_IMAGE": pool.submit(build_image, pm, f"dgw-lab-{peer}",
                                                            ROOT / "docker" / peer / "Dockerfile",
                                                            ROOT / "docker" / peer) for peer in LAB_PEERS}
        builds["DGW_IMAGE"] = pool.submit(emulator_image, pm)
        return {var: build.result() for var, build in builds.items()}


def podman_compose() -> str:
    """podman-compose of the test extras (beside this interpreter), else the one on PATH."""
    beside = Path(sys.executable).with_name("podman-compose")
    if beside.exists():
        return str(beside)
    return require_peer("podman-compose")["podman-compose"]
