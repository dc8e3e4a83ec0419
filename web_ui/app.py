"""The DGW web interface of one unit: an aiohttp application served over HTTP and/or HTTPS.

``WebEngine`` is the ``Web`` service: ``start()`` listens on the unit's address as
``Web.HttpMode`` says (``Unsecure``: HTTP on ``Web.ServerPort``; ``Secure``: HTTPS on
``Web.SecureServerPort`` with the unit's host certificate and the ``Web.TlsVersion`` /
``Web.HttpsCipherSuite`` policy of ``emulator.engines.cert.tls``; ``Both``: the two), and records
``unit.listening["web"]`` / ``["web_secure"]``.

It is a face: every value goes through ``Config.set`` / ``add_row`` / ``delete_row`` in one
``Config.batch`` per form, so a page with one invalid field changes nothing and shows the
configuration's own message beside that field. Pages are data (``web_ui.pages``); templates are
jinja2 with autoescape on. Every POST carries the session's CSRF token; sessions are cookies
(HttpOnly, SameSite=Strict, Secure over HTTPS); logins are checked by ``Aaa`` (lock-out).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web

from firmware_model import script as scripts
from firmware_model.certs import MAX_UPLOAD_BYTES, CertError
from firmware_model.config import ConfigError
from firmware_model.schema import Param, Table, Value
from web_ui.auth import COOKIE, LOGIN_COOKIE, Session, SessionStore, same_token
from web_ui.pages import CODEC_COLUMNS, CODECS, MENU, PAGES, Choices, Field, Page, Section, page_by_path

if TYPE_CHECKING:
    from emulator.engines.aaa import Aaa, AuthResult
    from emulator.runtime.unit import Unit

__all__ = ["WebEngine"]

HERE = Path(__file__).parent
HOME = "/System/Services"
MAX_STATUS_ROWS = 200
_ADMIN_TABLES = {"Aaa.Users"}
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=True,  # every template, whatever its name
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


SESSION = web.RequestKey("session", Session)


class _Rollback(Exception):
    """Raised inside Config.batch() to undo a form that had an invalid field."""


# ---------------------------------------------------------------------------------------------- views
@dataclass(slots=True)
class FieldView:
    """One input as the template draws it."""

    name: str  # form field name = the configuration address
    label: str
    help: str
    value: str  # shown text
    options: list[str] = field(default_factory=list)  # shown texts; empty: a text input
    kind: str = "text"  # text | select | password | readonly
    error: str = ""
    allowed: str = ""  # the value type, in words (Show Help)


@dataclass(slots=True)
class RowView:
    label: str
    key: str  # JSON of the index (delete)
    cells: list[FieldView]


@dataclass(slots=True)
class SectionView:
    section: Section
    fields: list[FieldView] = field(default_factory=list)
    columns: list[tuple[str, str]] = field(default_factory=list)  # (label, help)
    rows: list[RowView] = field(default_factory=list)
    add: list[FieldView] = field(default_factory=list)
    status_rows: list[list[str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    number: int = 0


@dataclass(slots=True)
class Editable:
    param: Param
    choices: Choices | None


@dataclass(slots=True)
class PageModel:
    page: Page
    sections: list[SectionView]
    editable: dict[str, Editable]
    endpoint: str = "Default"


def _quote_index(table: Table, index: tuple[Value, ...]) -> str:
    parts = []
    for col, v in zip(table.index, index, strict=True):
        if table.columns[col].type.kind in ("uint", "int", "uint64"):
            parts.append(str(v))
        else:
            parts.append('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"')
    return ",".join(parts)


def cell_address(table: Table, index: tuple[Value, ...], column: str) -> str:
    return f"{table.name}[{_quote_index(table, index)}].{column}"


# ---------------------------------------------------------------------------------------------- engine
class WebEngine:
    """The Web service of one unit."""

    name = "Web"

    def __init__(self, unit: Unit, aaa: Aaa, certs: Any = None, *, monotonic: Callable[[], float] = time.monotonic):
        self.unit = unit
        self.aaa = aaa
        # emulator.engines.cert.engine.CertEngine: given, or the unit's own (assembly sets unit.cert)
        self.certs = certs if certs is not None else getattr(unit, "cert", None)
        self.sessions = SessionStore()
        self._now = monotonic
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._web_restart_pending = False
        self.requests = 0
        self.errors = 0
        c = unit.config
        c.provide("Web.StatsRequest", lambda: self.requests)
        c.provide("Web.StatsError", lambda: self.errors)

    # ------------------------------------------------------------------ lifecycle
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 65536, middlewares=[self._middleware])
        r = app.router
        r.add_get("/", self._root)
        r.add_get("/login", self._login_form)
        r.add_get("/favicon.ico", self._favicon)
        r.add_post("/login", self._login)
        r.add_post("/logout", self._logout)
        r.add_post("/restart-required", self._restart_required)
        r.add_get("/Management/Configuration_Scripts/export", self._script_export)
        r.add_static("/static", str(HERE / "static"), append_version=False)
        for page in PAGES:
            r.add_get(page.path, self._page_get)
            r.add_post(page.path, self._page_post)
        return app

    async def start(self) -> None:
        if self._runner is not None:
            return
        cfg = self.unit.config
        mode = cfg.get_text("Web.HttpMode") or "Both"
        host = self.unit.host
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        shown = f"[{host}]" if ":" in host else host
        try:
            if mode in ("Unsecure", "Both"):
                port = self.unit.ports.real_port(int(cfg.get("Web.ServerPort") or 80))
                site = web.TCPSite(runner, host, port)
                await site.start()
                self.unit.listening["web"] = f"http://{shown}:{_bound_port(site)}"
            if mode in ("Secure", "Both"):
                try:
                    ctx = await self._server_context()
                except Exception as e:  # no host certificate, no Cert engine, unusable policy
                    if mode == "Secure":
                        raise RuntimeError(f"HTTPS not available: {e}") from e
                    self.unit.log.warning("web_https_unavailable", error=str(e))
                else:
                    port = self.unit.ports.real_port(int(cfg.get("Web.SecureServerPort") or 443))
                    site = web.TCPSite(runner, host, port, ssl_context=ctx)
                    await site.start()
                    self.unit.listening["web_secure"] = f"https://{shown}:{_bound_port(site)}"
        except BaseException:
            await runner.cleanup()
            self.unit.listening.pop("web", None)
            self.unit.listening.pop("web_secure", None)
            raise
        self._runner = runner
        self.unit.log.info("web_listening", mode=mode, http=self.unit.listening.get("web"),
                           https=self.unit.listening.get("web_secure"))

    async def _server_context(self) -> Any:
        if self.certs is None:
            raise RuntimeError("the unit has no certificate store")
        if not self.certs.host_certificates():
            # Scm starts Web before Cert: on a first boot the factory host certificate is made here.
            await self.certs.start()
        return self.certs.policy("Web").server_context()

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self.unit.listening.pop("web", None)
        self.unit.listening.pop("web_secure", None)

    def _later(self, coro: Awaitable[Any], delay: float = 0.2) -> None:
        """Run after the current response went out (restarting the Web service from one of its requests)."""

        async def run() -> None:
            await asyncio.sleep(delay)
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ middleware
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests += 1
        public = request.path in ("/login", "/favicon.ico") or request.path.startswith("/static/")
        if not public:
            session = self.sessions.get(request.cookies.get(COOKIE), self._now())
            if session is None:
                if request.method == "GET":
                    raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe=""))
                self.errors += 1
                return self._plain(403, "Your session has ended: log in again.")
            request[SESSION] = session
            if request.method == "POST":
                form = await request.post()
                if not same_token(str(form.get("csrf", "")), session.csrf):
                    self.errors += 1
                    self.unit.log.warning("web_csrf_refused", path=request.path, peer=request.remote or "")
                    return self._plain(403, "Refused: the form's security token is missing or wrong. Reload the page.")
        try:
            resp = await handler(request)
        except web.HTTPException as e:
            if e.status >= 400:
                self.errors += 1
            _headers(e)
            raise
        _headers(resp)
        return resp

    def _plain(self, status: int, text: str) -> web.Response:
        resp = web.Response(status=status, text=self._render("message.html", title="Error", message=text,
                                                                  session=None), content_type="text/html")
        return resp

    # ------------------------------------------------------------------ rendering
    def _render(self, template: str, **ctx: Any) -> str:
        session: Session | None = ctx.get("session")
        needs = [n for n in self.unit.config.restart_required() if n in self.unit.services
                 and not (n == self.name and self._web_restart_pending)]
        base = {
            "menu": MENU,
            "unit": self.unit,
            "product": self.unit.profile.product,
            "restart_needed": needs,
            "flash": [],
            "csrf": session.csrf if session else "",
            "user": session.user if session else "",
            "current": "",
        }
        if session is not None and session.flash:
            base["flash"], session.flash = session.flash, []
        base.update(ctx)
        return _env.get_template(template).render(**base)

    def _html(self, text: str, status: int = 200) -> web.Response:
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")

    # ------------------------------------------------------------------ login
    async def _root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPSeeOther(HOME)

    async def _login_form(self, request: web.Request, message: str = "", status: int = 200) -> web.Response:
        import secrets

        # One token per browser: a second login page (another tab, a favicon redirect) keeps it.
        token = request.cookies.get(LOGIN_COOKIE, "")
        if not 20 <= len(token) <= 64:
            token = secrets.token_urlsafe(24)
        nxt = _safe_next(request.query.get("next", ""))
        resp = self._html(self._render("login.html", title="Login", token=token, message=message, next=nxt,
                                       session=None), status)
        resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", secure=request.secure, path="/login")
        return resp

    async def _favicon(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if not same_token(str(form.get("token", "")), request.cookies.get(LOGIN_COOKIE)):
            self.errors += 1
            return await self._login_form(request, "The login form expired: try again.", 403)
        user = str(form.get("username", ""))
        password = str(form.get("password", ""))
        auth = self.aaa.check(user, password, face="Web", peer=request.remote or "")
        if not auth.ok:
            if auth.reason == "locked":
                secs = int(self.unit.config.get("Aaa.LoginLockedTimeoutS") or 300)
                msg = f"This user is locked after too many failed logins. Try again in {secs} seconds."
            else:
                msg = "Invalid user name or password."
            return await self._login_form(request, msg, 401)
        self.sessions.drop(request.cookies.get(COOKIE))  # a fresh session id at every login (no fixation)
        session = self.sessions.create(auth, self._now())
        self.unit.log.info("web_login", user=user, peer=request.remote or "")
        resp = web.HTTPSeeOther(_safe_next(str(form.get("next", ""))) or HOME)
        resp.set_cookie(COOKIE, session.sid, httponly=True, samesite="Strict", secure=request.secure, path="/")
        resp.del_cookie(LOGIN_COOKIE, path="/login")
        raise resp

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        self.sessions.drop(request.cookies.get(COOKIE))
        resp = web.HTTPSeeOther("/login")
        resp.del_cookie(COOKIE, path="/")
        raise resp

    # ------------------------------------------------------------------ restart banner
    async def _restart_required(self, request: web.Request) -> web.StreamResponse:
        session: Session = request[SESSION]
        form = await request.post()
        back = _safe_next(str(form.get("back", ""))) or HOME
        if not session.auth.can("write"):
            session.flash.append("Your access rights do not allow restarting services.")
            raise web.HTTPSeeOther(back)
        names = [n for n in self.unit.config.restart_required() if n in self.unit.services]
        now_names = [n for n in names if n != self.name]
        for n in now_names:
            await self.unit.restart_service(n)
        if self.name in names:
            self._web_restart_pending = True
            self._later(self._restart_self())
        session.flash.append("Restarted: " + (", ".join(names) if names else "nothing needed a restart") + "."
                             + (" The web server restarts in a moment." if self.name in names else ""))
        raise web.HTTPSeeOther(back)

    async def _restart_self(self) -> None:
        try:
            await self.unit.restart_service(self.name)
        finally:
            self._web_restart_pending = False

    # ------------------------------------------------------------------ pages
    def _page(self, request: web.Request) -> tuple[Page, Session]:
        page = page_by_path(request.path)
        if page is None:
            raise web.HTTPNotFound()
        session: Session = request[SESSION]
        if page.admin and not session.auth.can("admin"):
            raise web.HTTPForbidden(text="Only Admin users may open this page.")
        return page, session

    async def _page_get(self, request: web.Request) -> web.Response:
        page, session = self._page(request)
        model = self.build(page, session.auth, endpoint=request.query.get("endpoint", "Default"))
        return self._html(self.render_page(model, session))

    def render_page(self, model: PageModel, session: Session, **extra: Any) -> str:
        page = model.page
        ctx: dict[str, Any] = {"form_error": False, "script_result": None, "script_ok": True}
        ctx.update(extra)
        return self._render(
            "page.html", title=page.title, page=model.page, model=model, session=session,
            current=page.path, can_write=session.auth.can("write"), **ctx,
        )

    async def _page_post(self, request: web.Request) -> web.StreamResponse:
        page, session = self._page(request)
        form = await request.post()
        auth = session.auth
        action = str(form.get("action", "apply"))
        endpoint = str(form.get("endpoint", "Default"))
        back = page.path + (f"?endpoint={quote(endpoint, safe='')}" if endpoint != "Default" else "")
        if not auth.can("write") and action != "script-export":
            session.flash.append("Your access rights do not allow changes.")
            raise web.HTTPSeeOther(back)
        model = self.build(page, auth, endpoint=endpoint)
        if action.startswith(("apply", "submit")):
            errors = self._apply(model, form, auth)
            if errors:
                model = self.build(page, auth, endpoint=endpoint, submitted=form, errors=errors)
                return self._html(self.render_page(model, session, form_error=True), 400)
            session.flash.append("The changes were applied.")
            if action == "apply-refresh" and self.unit.config.needs_restart("SipEp") and "SipEp" in self.unit.services:
                await self.unit.restart_service("SipEp")
        elif action.startswith("add:"):
            errors = self._add(model, int(action[4:]), form, auth)
            if errors:
                model = self.build(page, auth, endpoint=endpoint, submitted=form, errors=errors)
                return self._html(self.render_page(model, session, form_error=True), 400)
            session.flash.append("The row was added.")
        elif action.startswith("delete:"):
            sec_no, _, key = action[7:].partition(":")
            self._delete(model, int(sec_no), key, auth, session)
        elif action.startswith("ep:"):
            _, verb, ep = action.split(":", 2)
            self._endpoint_command(verb, ep, session)
        elif action.startswith("svc:"):
            _, verb, name = action.split(":", 2)
            await self._service_command(verb, name, session)
        elif action.startswith("cert-"):
            await self._certificates(action, form, request, session)
        elif action == "script-import":
            return await self._script_import(form, model, session)
        elif action == "reboot":
            self._later(self._reboot(), delay=0.3)
            return self._html(self._render("message.html", title="Reboot", session=None,
                                           message="The unit is restarting. Log in again in a few seconds."))
        else:
            raise web.HTTPBadRequest(text="unknown action")
        raise web.HTTPSeeOther(back)

    # ------------------------------------------------------------------ building the page model
    def build(
        self, page: Page, auth: AuthResult, *, endpoint: str = "Default",
        submitted: Any = None, errors: dict[str, str] | None = None,
    ) -> PageModel:
        errors = errors or {}
        model = PageModel(page, [], {}, endpoint)
        cfg = self.unit.config
        cat = self.unit.catalog
        for number, sec in enumerate(page.sections):
            view = SectionView(sec, number=number)
            if sec.kind == "form":
                for f in sec.fields:
                    p = cat.param(f.param)
                    if p is None:
                        continue
                    view.fields.append(self._field(model, p, f.param, f, auth, submitted, errors))
            elif sec.kind == "endpoint":
                self._build_endpoint(model, view, sec, auth, submitted, errors)
            elif sec.kind == "grid":
                self._build_grid(model, view, sec, auth, submitted, errors)
            elif sec.kind == "status":
                assert sec.table is not None
                table = cat.tables[sec.table]
                view.columns = [(c.title, c.help) for c in table.columns.values()]
                rows = cfg.rows(table.name)
                for row in rows[-MAX_STATUS_ROWS:]:
                    view.status_rows.append([_text(row.get(c)) for c in table.columns])
            elif sec.block == "severity":
                for svc in cat.services.values():
                    p = svc.params.get("MinSeverity")
                    if p is not None and svc.name in self.unit.services:  # not the catalog-only Hardware
                        fv = self._field(model, p, p.name, Field(p.name, svc.name), auth, submitted, errors)
                        view.rows.append(RowView(svc.name, "", [fv]))
                view.columns = [("Service", ""), (cat.params["Nlm.MinSeverity"].title, "")]
            elif sec.block == "codecs":
                view.columns = [("Codec", "")] + [(lab, "") for _, lab in CODEC_COLUMNS]
                for key, shown in CODECS:
                    cells = []
                    for col, lab in CODEC_COLUMNS:
                        name = f"Mipt.DefaultCodec{key}{col}"
                        p = cat.param(name)
                        cells.append(self._field(model, p, name, Field(name, lab), auth, submitted, errors)
                                     if p is not None else FieldView("", "", "", "", kind="none"))
                    view.rows.append(RowView(shown, "", cells))
            elif sec.block == "unit_states":
                view.columns = [("Administrative State", ""), ("Operational State", ""), ("Usage State", "")]
                view.extra["unit"] = [cfg.get(f"EpAdm.Unit{n}State") for n in ("Admin", "Op", "Usage")]
            elif sec.block == "endpoint_states":
                names = ("EpId", "AdminState", "OpState", "UsageState")
                table = cat.tables["EpAdm.Endpoint"]
                view.columns = [(table.columns[n].title, table.columns[n].help) for n in names]
                view.extra["endpoints"] = [[r.get(n) for n in names] for r in cfg.rows("EpAdm.Endpoint")]
            elif sec.block == "services":
                view.columns = [(c.title, c.help) for c in cat.tables["Scm.ServicesInfo"].columns.values()]
                view.extra["services"] = cfg.rows("Scm.ServicesInfo")
            elif sec.block in ("cert_host", "cert_other"):
                kind = "HostCertificatesInfo" if sec.block == "cert_host" else "OthersCertificatesInfo"
                table = cat.tables[f"Cert.{kind}"]
                cols = [c for c in table.columns.values() if not c.is_command]
                view.columns = [(c.title, c.help) for c in cols]
                view.extra["kind"] = "host" if sec.block == "cert_host" else "other"
                view.status_rows = [[_text(r.get(c.column or "")) for c in cols] for r in cfg.rows(table.name)]
                view.extra["names"] = [str(r.get("FileName")) for r in cfg.rows(table.name)]
                view.extra["available"] = self.certs is not None
            elif sec.block == "cert_import":
                view.extra["available"] = self.certs is not None
                view.extra["unsecure_active"] = bool(self.certs is not None and self.certs.unsecure_transfer_active)
            elif sec.block == "script_export":
                view.extra["contents"] = list(scripts.EXPORT_CONTENTS)
            model.sections.append(view)
        return model

    def _field(
        self, model: PageModel, p: Param, name: str, f: Field, auth: AuthResult,
        submitted: Any, errors: dict[str, str],
    ) -> FieldView:
        cfg = self.unit.config
        label = f.label or p.title
        writable = p.writable and not f.readonly and auth.can("write")
        if p.secret and not auth.can("secrets"):
            writable = False
        if p.table in _ADMIN_TABLES and not auth.can("admin"):
            writable = False
        if submitted is not None and name in submitted and not p.secret:
            value = str(submitted[name])
        else:
            try:
                raw = cfg.get(name)
            except ConfigError:
                raw = None
            value = _text(raw)
            if f.choices is not None:
                value = f.choices.shown(value)
        fv = FieldView(name, label, p.help, value, error=errors.get(name, ""), allowed=p.type.describe())
        if p.secret:
            fv.kind = "password" if writable else "readonly"
            fv.value = "" if writable else "********"
        elif not writable:
            fv.kind = "readonly"
        elif p.type.is_enum:
            fv.kind = "select"
            labels = p.type.labels()
            fv.options = [f.choices.shown(v) for v in labels] if f.choices is not None else labels
        if writable:
            model.editable[name] = Editable(p, f.choices)
        return fv

    def _build_endpoint(
        self, model: PageModel, view: SectionView, sec: Section, auth: AuthResult,
        submitted: Any, errors: dict[str, str],
    ) -> None:
        cat = self.unit.catalog
        assert sec.table is not None
        table = cat.tables[sec.table]
        endpoints = [str(i[0]) for i in self.unit.config.indexes(table.name)]
        ep = model.endpoint if model.endpoint in endpoints else "Default"
        model.endpoint = ep
        view.extra["endpoints"] = ["Default", *endpoints]
        view.extra["endpoint"] = ep
        for f in sec.fields:
            if ep == "Default":
                name = f.default or (f.param if "." in f.param else None)
            else:
                name = None if "." in f.param else cell_address(table, (ep,), f.param)
            if name is None:
                continue
            p = cat.param(name) if "[" not in name else self.unit.config.resolve(name).param
            if p is None:
                continue
            view.fields.append(self._field(model, p, name, f, auth, submitted, errors))

    def _build_grid(
        self, model: PageModel, view: SectionView, sec: Section, auth: AuthResult,
        submitted: Any, errors: dict[str, str],
    ) -> None:
        cat = self.unit.catalog
        assert sec.table is not None
        table = cat.tables[sec.table]
        idx_cols = [table.columns[c] for c in table.index]
        index_label = sec.index_label or " / ".join(c.title for c in idx_cols)
        fields = [(f, table.columns[f.param]) for f in sec.fields if f.param in table.columns]
        view.columns = [(index_label, idx_cols[0].help)] + [(f.label or p.title, p.help) for f, p in fields]
        for index in self.unit.config.indexes(table.name):
            cells = [
                self._field(model, p, cell_address(table, index, p.column or f.param), f, auth, submitted, errors)
                for f, p in fields
            ]
            view.rows.append(RowView(", ".join(_text(v) for v in index), json.dumps(list(index)), cells))
        if sec.add and auth.can("write") and (table.name not in _ADMIN_TABLES or auth.can("admin")):
            for c in idx_cols:
                if c.type.kind in ("uint", "int"):
                    continue  # numeric indexes are assigned
                view.add.append(FieldView(f"add.{c.column}", index_label if len(idx_cols) == 1 else c.title,
                                          c.help, _form_text(submitted, f"add.{c.column}"),
                                          error=errors.get(f"add.{c.column}", ""), allowed=c.type.describe()))
            for f, p in fields:
                fv = FieldView(f"add.{p.column}", f.label or p.title, p.help, "",
                               error=errors.get(f"add.{p.column}", ""), allowed=p.type.describe())
                default = _text(p.default)
                if p.secret:
                    fv.kind = "password"
                elif p.type.is_enum:
                    fv.kind = "select"
                    labels = p.type.labels()
                    fv.options = [f.choices.shown(v) for v in labels] if f.choices else labels
                    default = f.choices.shown(default) if f.choices else default
                fv.value = _form_text(submitted, fv.name) or ("" if p.secret else default)
                view.add.append(fv)

    # ------------------------------------------------------------------ applying forms
    def _apply(self, model: PageModel, form: Any, auth: AuthResult) -> dict[str, str]:
        cfg = self.unit.config
        errors: dict[str, str] = {}
        try:
            with cfg.batch():
                for name, ed in model.editable.items():
                    if name not in form:
                        continue
                    raw = str(form[name])
                    if ed.param.secret and raw == "":
                        continue  # a blank password field keeps the current secret
                    value = ed.choices.value(raw) if ed.choices is not None else raw
                    try:
                        cfg.set(name, value, source="web")
                    except ConfigError as e:
                        errors[name] = _reason(e)
                if errors:
                    raise _Rollback
        except _Rollback:
            pass
        return errors

    def _grid_section(self, model: PageModel, number: int) -> Section:
        if not 0 <= number < len(model.page.sections):
            raise web.HTTPBadRequest(text="no such table")
        sec = model.page.sections[number]
        if sec.kind != "grid" or sec.table is None:
            raise web.HTTPBadRequest(text="no such table")
        return sec

    def _add(self, model: PageModel, number: int, form: Any, auth: AuthResult) -> dict[str, str]:
        sec = self._grid_section(model, number)
        if not sec.add:
            raise web.HTTPBadRequest(text="rows cannot be added here")
        assert sec.table is not None
        table = self.unit.catalog.tables[sec.table]
        if table.name in _ADMIN_TABLES and not auth.can("admin"):
            raise web.HTTPForbidden(text="Only Admin users may add users.")
        values: dict[str, Value] = {}
        for c in table.index:
            if f"add.{c}" in form:
                values[c] = str(form[f"add.{c}"]).strip()
        for f in sec.fields:
            p = table.columns.get(f.param)
            key = f"add.{f.param}"
            if p is None or key not in form:
                continue
            if p.secret and not auth.can("secrets"):
                continue
            raw = str(form[key])
            if p.secret and raw == "":
                continue
            values[f.param] = f.choices.value(raw) if f.choices is not None else raw
        cfg = self.unit.config
        for c in table.index:
            if c in values and values[c] == "":
                return {f"add.{c}": f"{table.columns[c].title}: a value is required"}
        try:
            with cfg.batch():
                index = cfg.add_row(table.name, values, source="web")
                if table.name == "SipEp.Gateway":
                    self._gateway_rows(str(index[0]))
        except ConfigError as e:
            where = "add." + (e.name.rsplit(".", 1)[-1] if e.name.count(".") >= 2 else table.index[0])
            return {where: _reason(e)}
        return {}

    def _gateway_rows(self, gateway: str, remove: bool = False) -> None:
        """A new SIP gateway gets its row in every table indexed by GatewayName (as on the unit).

        Workaround until firmware_model does this itself: those tables are not dynamic, so the rows
        are put in with the table-feeding call, keeping every existing row; persisted by the batch."""
        cfg = self.unit.config
        for table in self.unit.catalog.service("SipEp").tables.values():  # type: ignore[union-attr]
            if table.index != ("GatewayName",) or table.status:
                continue
            rows = cfg.rows(table.name)
            present = any(r.get("GatewayName") == gateway for r in rows)
            if present != remove:
                continue
            stored = [{k: v for k, v in r.items() if not table.columns[k].is_command} for r in rows
                      if r.get("GatewayName") != gateway]
            if not remove:
                fresh = {c: p.default for c, p in table.columns.items() if not p.is_command and p.default is not None}
                fresh["GatewayName"] = gateway
                stored.append(fresh)
            cfg.set_status_rows(table.name, stored)
            cfg._changed_tables.add(table.name)  # persisted with the batch (model API pending, see docstring)

    def _delete(self, model: PageModel, number: int, key: str, auth: AuthResult, session: Session) -> None:
        sec = self._grid_section(model, number)
        if not sec.delete:
            raise web.HTTPBadRequest(text="rows cannot be deleted here")
        assert sec.table is not None
        if sec.table in _ADMIN_TABLES and not auth.can("admin"):
            raise web.HTTPForbidden(text="Only Admin users may delete users.")
        try:
            index = tuple(json.loads(key))
        except (ValueError, TypeError):
            raise web.HTTPBadRequest(text="bad row") from None
        try:
            with self.unit.config.batch():
                self.unit.config.delete_row(sec.table, index, source="web")
                if sec.table == "SipEp.Gateway":
                    self._gateway_rows(str(index[0]), remove=True)
        except ConfigError as e:
            session.flash.append(_reason(e))
            return
        if sec.table == "Aaa.Users":
            self.sessions.drop_user(str(index[0]))
        session.flash.append("The row was deleted.")

    # ------------------------------------------------------------------ endpoints, services, reboot
    def _endpoint_command(self, verb: str, ep: str, session: Session) -> None:
        """System/Endpoints: Lock, Force Lock, Unlock — the EpAdm.Endpoint row commands."""
        eps = {str(r["EpId"]) for r in self.unit.config.rows("EpAdm.Endpoint")}
        if verb not in ("Lock", "ForceLock", "Unlock") or ep not in eps:
            raise web.HTTPBadRequest(text="unknown endpoint command")
        try:
            self.unit.config.set(f"EpAdm.Endpoint[{ep}].{verb}", verb, source="web")
        except ConfigError as e:
            session.flash.append(_reason(e))
            return
        session.flash.append(f"{ep}: {'force lock' if verb == 'ForceLock' else verb.lower()} requested.")

    async def _service_command(self, verb: str, name: str, session: Session) -> None:
        if verb not in ("Start", "Stop", "Restart") or name not in self.unit.services:
            raise web.HTTPBadRequest(text="unknown service command")
        if name == self.name:  # our own service: answer first
            fn = {"Start": self.unit.start_service, "Stop": self.unit.stop_service,
                  "Restart": self.unit.restart_service}[verb]
            self._later(fn(name))
        else:
            await {"Start": self.unit.start_service, "Stop": self.unit.stop_service,
                   "Restart": self.unit.restart_service}[verb](name)
        session.flash.append(f"{name}: {verb.lower()} requested.")

    async def _reboot(self) -> None:
        self.unit.log.info("web_reboot")
        await self.unit.reboot()

    # ------------------------------------------------------------------ certificates
    async def _certificates(self, action: str, form: Any, request: web.Request, session: Session) -> None:
        certs = self.certs
        if certs is None:
            session.flash.append("This unit has no certificate store.")
            return
        # Host certificates (they carry a private key), the unsecure window and deletes are Admin's,
        # as on the API and the CLI; a User may add trusted (Other) certificates.
        kind_asked = str(form.get("type", "Other")) if action == "cert-upload" else "Host"
        if kind_asked == "Host" and not session.auth.can("admin"):
            session.flash.append("Only an Admin user may do this (host certificates, unsecure transfer, deletes).")
            return
        if action == "cert-activate":
            certs.activate_unsecure_transfer()
            session.flash.append("Unsecure certificate transfer is activated for the next host certificate upload.")
            return
        if action.startswith("cert-delete:"):
            _, kind, name = action.split(":", 2)
            try:
                certs.delete("host" if kind == "host" else "other", name)
            except (CertError, ValueError) as e:
                session.flash.append(str(e))
                return
            session.flash.append(f"Certificate {name} deleted.")
            return
        if action != "cert-upload":
            raise web.HTTPBadRequest(text="unknown certificate action")
        upload = form.get("file")
        if upload is None or not hasattr(upload, "file"):
            session.flash.append("Choose a certificate file first (Browse).")
            return
        data = upload.file.read(MAX_UPLOAD_BYTES + 1)
        kind = str(form.get("type", "Other"))
        try:
            if kind == "Host":
                name = certs.import_host(data, str(form.get("password", "")) or None,
                                         over_plain_http=not request.secure)
                names = [name]
            else:
                names = certs.import_other(data)
        except CertError as e:
            session.flash.append(f"Certificate refused: {e}")
            return
        session.flash.append("Certificate imported: " + ", ".join(names) + ".")

    # ------------------------------------------------------------------ configuration scripts
    async def _script_export(self, request: web.Request) -> web.StreamResponse:
        session: Session = request[SESSION]
        if not session.auth.can("write"):
            raise web.HTTPForbidden(text="Your access rights do not allow exporting the configuration.")
        content = request.query.get("content", "ModifiedConfig")
        if content not in scripts.EXPORT_CONTENTS:
            raise web.HTTPBadRequest(text="unknown content")
        text = scripts.export_script(self.unit.config, content=content)
        if not session.auth.can("secrets"):
            text = self._without_secrets(text)
        return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={
            "Content-Disposition": f'attachment; filename="{self.unit.name}-{content}.cfg"'})

    def _without_secrets(self, text: str) -> str:
        out = []
        for line in text.splitlines():
            parts = scripts.split_assignment(scripts.strip_comment(line))
            if parts is not None:
                try:
                    if self.unit.config.resolve(parts[0]).param.secret:
                        continue
                except ConfigError:
                    pass
            out.append(line)
        return "\n".join(out) + "\n"

    async def _script_import(self, form: Any, model: PageModel, session: Session) -> web.Response:
        upload = form.get("file")
        raw: bytes
        if upload is not None and hasattr(upload, "file"):
            raw = upload.file.read(scripts.MAX_SCRIPT_BYTES + 1)
        else:
            raw = str(form.get("script", "")).encode()
        if len(raw) > scripts.MAX_SCRIPT_BYTES:
            result_text = f"Refused: a script may hold at most {scripts.MAX_SCRIPT_BYTES} bytes."
            return self._html(self.render_page(model, session, script_result=result_text, script_ok=False), 400)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._html(self.render_page(model, session, script_result="Refused: the script must be UTF-8 text.",
                                               script_ok=False), 400)
        auth = session.auth
        if not (auth.can("secrets") and auth.can("admin")):
            statements, _ = scripts.parse_script(text)
            for st in statements:
                try:
                    p = self.unit.config.resolve(st.target).param
                except ConfigError:
                    continue
                if (p.secret and not auth.can("secrets")) or (p.table in _ADMIN_TABLES and not auth.can("admin")):
                    msg = f"Refused, nothing applied: line {st.number} writes a secret or a user (Admin only)."
                    return self._html(self.render_page(model, session, script_result=msg, script_ok=False), 403)
        result = self.unit.run_script(text, source="web")
        if result.ok:
            msg = f"Script executed: {result.applied} line(s) applied."
        else:
            first = result.errors[0] if result.errors else None
            where = f" Line {first.number}: {first.error}" if first is not None else ""
            head = "Script applied with errors." if result.committed else "Script refused, nothing applied."
            msg = head + where
        model = self.build(model.page, auth)
        return self._html(self.render_page(model, session, script_result=msg, script_ok=result.ok),
                          200 if result.ok else 400)


# ---------------------------------------------------------------------------------------------- helpers
def _bound_port(site: web.TCPSite) -> int:
    server: Any = site._server  # aiohttp keeps the asyncio server here
    assert server is not None
    return int(server.sockets[0].getsockname()[1])


def _headers(resp: web.StreamResponse) -> None:
    h = resp.headers
    h.setdefault("Content-Security-Policy", _CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    if resp.content_type == "text/html":
        h.setdefault("Cache-Control", "no-store")


def _safe_next(target: str) -> str:
    """A local path of this interface only (no open redirect)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return ""
    if page_by_path(parts.path) is None and parts.path != "/":
        return ""
    return target


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def _form_text(form: Any, name: str) -> str:
    if form is None or name not in form:
        return ""
    return str(form[name])


def _reason(e: ConfigError) -> str:
    """The configuration's message without the leading address (the field is beside it)."""
    msg = e.message
    head, sep, rest = msg.partition(": ")
    return rest if sep and ("." in head or "[" in head) else msg
