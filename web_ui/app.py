"""The DGW web interface of one unit: an aiohttp application served over HTTP and/or HTTPS.

``WebEngine`` is the ``Web`` service: ``start()`` listens on the unit's address as
``Web.HttpMode`` says (``Unsecure``: HTTP on ``Web.ServerPort``; ``Secure``: HTTPS on
``Web.SecureServerPort`` with the unit's host certificate and the ``Web.TlsVersion`` /
``Web.HttpsCipherSuite`` policy of ``emulator.engines.cert.tls``; ``Both``: the two), and records
``unit.listening["web"]`` / ``["web_secure"]``. A request aiohttp cannot parse is answered 400 and
logged as one line (``emulator.runtime.http``).

This module is the server and its sessions: routes, the middleware (session cookie, CSRF token of
every POST, security headers), login / logout, rendering. What a page shows is ``web_ui.views``, what
a submitted form changes is ``web_ui.forms``, the other buttons are ``web_ui.actions``; every access
decision is ``emulator.ops.policy``'s, and a refusal shows its message on the page. Sessions are
cookies (HttpOnly, SameSite=Strict, Secure over HTTPS); logins are checked by ``Aaa`` (lock-out).
"""

from __future__ import annotations

import functools
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from emulator.engines.aaa import Aaa
from emulator.ops.policy import Forbidden, check_right
from emulator.runtime.http import app_runner, bound_port
from emulator.runtime.routes import RouteEntry, routed_app
from emulator.runtime.unit import Unit
from firmware_model.certs import MAX_UPLOAD_BYTES
from firmware_model.config import ConfigError
from web_ui.actions import ENDPOINT_BUTTONS, SERVICE_VERBS, PageActions
from web_ui.auth import COOKIE, LOGIN_COOKIE, Flash, Session, SessionStore, same_token
from web_ui.forms import ROW_MOVES, BadForm, add_row, apply_fields, delete_row, move_row, reason
from web_ui.pages import BUTTON_ACTIONS, MENU, PAGES, Page, page_by_path
from web_ui.views import PageBuilder, PageModel, cell_address, mark_text

if TYPE_CHECKING:
    import jinja2

__all__ = ["WebEngine", "cell_address"]

HERE = Path(__file__).parent
HOME = "/System/Services"
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


@functools.cache
def _templates() -> jinja2.Environment:
    """The page templates, made at the first page rendered: jinja2 is imported then, not at every unit's start."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(ENDPOINT_BUTTONS=ENDPOINT_BUTTONS, SERVICE_VERBS=SERVICE_VERBS, BUTTON_ACTIONS=BUTTON_ACTIONS,
                       ROW_MOVES=ROW_MOVES, mark_text=mark_text)
    return env


SESSION = web.RequestKey("session", Session)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebEngine:
    """The Web service of one unit."""

    name = "Web"

    def __init__(self, unit: Unit, aaa: Aaa, certs: Any = None, *, monotonic: Callable[[], float] = time.monotonic):
        self.unit = unit
        self.aaa = aaa
        # emulator.engines.cert.engine.CertEngine: given, or the unit's own (assembly sets unit.cert)
        self.certs = certs if certs is not None else getattr(unit, "cert", None)
        # Listening sockets, by face ("web", "web_secure"), the composition bound before the ready file
        # (emulator.fleet.late): the next start serves them instead of binding the configured ports.
        self.socks: dict[str, socket.socket] = {}
        self.sessions = SessionStore()
        self.views = PageBuilder(unit, self.certs)
        self.actions = PageActions(unit, self.certs, self.name)
        self._now = monotonic
        self._runner: web.AppRunner | None = None
        self.requests = 0
        self.errors = 0
        c = unit.config
        c.provide("Web.StatsRequest", lambda: self.requests)
        c.provide("Web.StatsError", lambda: self.errors)

    # ------------------------------------------------------------------ lifecycle
    def make_app(self) -> web.Application:
        gets = [("/", self._root), ("/login", self._login_form), ("/favicon.ico", self._favicon),
                ("/Management/Configuration_Scripts/export", self._script_export)]
        posts = [("/login", self._login), ("/logout", self._logout), ("/restart-required", self._restart_required)]
        entries: list[RouteEntry] = [(m, path, h, None) for path, h in gets for m in ("HEAD", "GET")]
        entries += [("POST", path, h, None) for path, h in posts]
        for page in PAGES:
            entries += [("HEAD", page.path, self._page_get, None), ("GET", page.path, self._page_get, None),
                        ("POST", page.path, self._page_post, None)]
        # the route table is built once per process and shared by every unit (emulator.runtime.routes)
        app, _ = routed_app(entries, client_max_size=MAX_UPLOAD_BYTES + 65536, middlewares=[self._middleware])
        app.router.add_static("/static", str(HERE / "static"), append_version=False)
        return app

    async def start(self) -> None:
        if self._runner is not None:
            return
        cfg = self.unit.config
        mode = cfg.get_text("Web.HttpMode") or "Both"
        host = self.unit.host
        runner = app_runner(self.make_app(), self.unit.log.bind(server="web"), shutdown_timeout=1.0)
        await runner.setup()
        shown = f"[{host}]" if ":" in host else host
        try:
            if mode in ("Unsecure", "Both"):
                site = self._site(runner, "web", int(cfg.get("Web.ServerPort") or 80))
                await site.start()
                self.unit.listening["web"] = f"http://{shown}:{bound_port(site)}"
            if mode in ("Secure", "Both"):
                try:
                    ctx = await self._server_context()
                except Exception as e:  # no host certificate, no Cert engine, unusable policy
                    if mode == "Secure":
                        raise RuntimeError(f"HTTPS not available: {e}") from e
                    self.unit.log.warning("web_https_unavailable", error=str(e))
                else:
                    site = self._site(runner, "web_secure", int(cfg.get("Web.SecureServerPort") or 443), ctx)
                    await site.start()
                    self.unit.listening["web_secure"] = f"https://{shown}:{bound_port(site)}"
        except BaseException:
            await runner.cleanup()
            self._unlisten()
            raise
        self._runner = runner
        self.unit.log.info("web_listening", mode=mode, http=self.unit.listening.get("web"),
                           https=self.unit.listening.get("web_secure"))

    def _site(self, runner: web.AppRunner, face: str, configured: int, ctx: Any = None) -> web.BaseSite:
        sock = self.socks.pop(face, None)
        if sock is not None:
            return web.SockSite(runner, sock, ssl_context=ctx)
        return web.TCPSite(runner, self.unit.host, self.unit.ports.real_port(configured, face), ssl_context=ctx)

    async def _server_context(self) -> Any:
        if self.certs is None:
            raise RuntimeError("the unit has no certificate store")
        if not self.certs.host_certificates():
            # Scm starts Web before Cert: on a first boot the factory host certificate is made here.
            await self.certs.start()
        return self.certs.policy("Web").deferred_server_context()  # the host key loaded at the first handshake

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._unlisten()

    def _unlisten(self) -> None:
        self.unit.listening.pop("web", None)
        self.unit.listening.pop("web_secure", None)

    # ------------------------------------------------------------------ middleware
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests += 1
        public = request.path in ("/login", "/favicon.ico") or request.path.startswith("/static/")
        if not public:
            session = self.sessions.get(request.cookies.get(COOKIE), self._now())
            if session is None:
                if request.method == "GET":
                    raise web.HTTPSeeOther("/login?next=" + quote(request.path_qs, safe=""))
                self.errors += 1
                return self._message(403, "Error", "Your session has ended: log in again.")
            request[SESSION] = session
            if request.method == "POST":
                form = await request.post()
                if not same_token(str(form.get("csrf", "")), session.csrf):
                    self.errors += 1
                    self.unit.log.warning("web_csrf_refused", path=request.path, peer=request.remote or "")
                    return self._message(
                        403, "Error", "Refused: the form's security token is missing or wrong. Reload the page.")
        try:
            resp = await handler(request)
        except web.HTTPException as e:
            if e.status >= 400:
                self.errors += 1
            _headers(e)
            raise
        _headers(resp)
        return resp

    # ------------------------------------------------------------------ rendering
    def _render(self, template: str, session: Session | None, **ctx: Any) -> str:
        needs = [n for n in self.unit.config.restart_required() if n in self.unit.services
                 and not (n == self.name and self.actions.web_restart_pending)]
        base = {
            "menu": self.menu,
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
        return _templates().get_template(template).render(**base)

    @functools.cached_property
    def menu(self) -> tuple[tuple[str, tuple[Page, ...]], ...]:
        """The menu of this unit's model (the POTS pages on a unit with FXS lines only)."""
        kind = self.unit.profile.endpoint_kind
        menu = ((m, tuple(p for p in pages if p.on(kind))) for m, pages in MENU)
        return tuple((m, pages) for m, pages in menu if pages)

    def _html(self, text: str, status: int = 200) -> web.Response:
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")

    def _message(self, status: int, title: str, text: str) -> web.Response:
        return self._html(self._render("message.html", None, title=title, message=text), status)

    def render_page(self, model: PageModel, session: Session, **extra: Any) -> str:
        page = model.page
        ctx: dict[str, Any] = {"form_error": False, "script_result": None, "script_ok": True, **extra}
        return self._render("page.html", session, title=page.title, page=page, model=model, current=page.path,
                            can_write=session.auth.can("write"), **ctx)

    # ------------------------------------------------------------------ login
    async def _root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPSeeOther(HOME)

    async def _login_form(self, request: web.Request, message: str = "", status: int = 200) -> web.Response:
        # One token per browser: a second login page (another tab, a favicon redirect) keeps it.
        token = request.cookies.get(LOGIN_COOKIE, "")
        if not 20 <= len(token) <= 64:
            token = secrets.token_urlsafe(24)
        nxt = _safe_next(request.query.get("next", ""))
        resp = self._html(self._render("login.html", None, title="Login", token=token, message=message, next=nxt),
                          status)
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
        auth = self.aaa.check(user, str(form.get("password", "")), face="Web", peer=request.remote or "")
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

    # ------------------------------------------------------------------ the banner, the export
    async def _restart_required(self, request: web.Request) -> web.StreamResponse:
        session = request[SESSION]
        form = await request.post()
        try:
            session.flash.append(await self.actions.restart_required(session.auth))
        except Forbidden as e:
            session.tell(str(e), ok=False)
        raise web.HTTPSeeOther(_safe_next(str(form.get("back", ""))) or HOME)

    async def _script_export(self, request: web.Request) -> web.StreamResponse:
        content = request.query.get("content", "ModifiedConfig")
        try:
            text = self.actions.export_script(content, request[SESSION].auth)
        except Forbidden as e:
            raise web.HTTPForbidden(text=str(e)) from None
        except BadForm as e:
            raise web.HTTPBadRequest(text=str(e)) from None
        return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={
            "Content-Disposition": f'attachment; filename="{self.unit.name}-{content}.cfg"'})

    # ------------------------------------------------------------------ pages
    def _page(self, request: web.Request) -> tuple[Page, Session]:
        page = page_by_path(request.path)
        if page is None or not page.on(self.unit.profile.endpoint_kind):
            raise web.HTTPNotFound()
        session = request[SESSION]
        if page.admin:
            try:
                check_right(session.auth, "admin", "open this page")
            except Forbidden as e:
                raise web.HTTPForbidden(text=str(e)) from None
        return page, session

    async def _page_get(self, request: web.Request) -> web.Response:
        page, session = self._page(request)
        model = self.views.build(page, session.auth, endpoint=request.query.get("endpoint", "Default"))
        return self._html(self.render_page(model, session))

    async def _page_post(self, request: web.Request) -> web.StreamResponse:
        page, session = self._page(request)
        form = await request.post()
        endpoint = str(form.get("endpoint", "Default"))
        model = self.views.build(page, session.auth, endpoint=endpoint)
        try:
            check_right(session.auth, "write")
            answer = await self._act(request, model, form, session)
        except Forbidden as e:  # the policy's words, where the page shows its messages; nothing changed
            session.tell(str(e), ok=False)
            return self._html(self.render_page(self.views.build(page, session.auth, endpoint=endpoint), session),
                              403)
        except BadForm as e:
            raise web.HTTPBadRequest(text=str(e)) from None
        if answer is not None:
            return answer
        raise web.HTTPSeeOther(page.path + (f"?endpoint={quote(endpoint, safe='')}" if endpoint != "Default" else ""))

    async def _act(self, request: web.Request, model: PageModel, form: Any, session: Session) -> web.Response | None:
        """One button of a page; None: done, the browser goes back to the page (its flash says how it went)."""
        auth = session.auth
        action = str(form.get("action", "apply"))
        kind, _, arg = action.partition(":")
        if action.startswith(("apply", "submit")):
            errors = apply_fields(self.unit.config, model, form)
            if errors:
                return self._refused_form(model, session, form, errors)
            session.tell("The changes were applied.")
            if action == "apply-refresh" and self.unit.config.needs_restart("SipEp") and "SipEp" in self.unit.services:
                await self.unit.restart_service("SipEp")
        elif kind == "add":
            errors = add_row(self.unit, model, _number(arg), form, auth)
            if errors:
                return self._refused_form(model, session, form, errors)
            session.tell("The row was added.")
        elif kind == "delete":
            number, _, key = arg.partition(":")
            session.flash.append(self._delete(model, _number(number), key, session))
        elif kind == "row":  # a grid row's Up / Down
            number, _, rest = arg.partition(":")
            command, _, key = rest.partition(":")
            try:
                move_row(self.unit, model, _number(number), key, command, auth)
            except ConfigError as e:
                session.tell(reason(e), ok=False)
        elif kind == "crout":  # Apply Config: CRout.ApplyConfig
            if arg != "apply":
                raise BadForm("unknown action")
            session.flash.append(self.actions.apply_crout(auth))
        elif kind == "ep":
            verb, _, ep = arg.partition(":")
            session.flash.append(self.actions.endpoint_command(verb, ep, auth))
        elif kind == "svc":
            verb, _, service = arg.partition(":")
            session.flash.append(await self.actions.service_command(verb, service, auth))
        elif kind in ("conf", "fpu"):
            self.actions.check_provisioning(kind, arg, auth)  # refused: nothing of the form is applied either
            errors = apply_fields(self.unit.config, model, form)  # the button's section first (the MFP URL...)
            if errors:
                return self._refused_form(model, session, form, errors)
            session.flash.append(await self.actions.provisioning(kind, arg, auth))
        elif action.startswith("cert-"):
            session.flash.append(self.actions.certificate(action, form, request.secure, auth))
        elif action == "script-import":
            result = self.actions.import_script(form, auth)
            model = self.views.build(model.page, auth)
            return self._html(self.render_page(model, session, script_result=result.message, script_ok=result.ok),
                              result.status)
        elif action == "reboot":
            self.actions.reboot(auth)
            return self._message(200, "Reboot", "The unit is restarting. Log in again in a few seconds.")
        else:
            raise BadForm("unknown action")
        return None

    def _refused_form(self, model: PageModel, session: Session, form: Any, errors: dict[str, str]) -> web.Response:
        """The page again with the submitted values and each message beside its field (nothing changed)."""
        model = self.views.build(model.page, session.auth, endpoint=model.endpoint, submitted=form, errors=errors)
        return self._html(self.render_page(model, session, form_error=True), 400)

    def _delete(self, model: PageModel, number: int, key: str, session: Session) -> Flash:
        try:
            table, index = delete_row(self.unit, model, number, key, session.auth)
        except ConfigError as e:
            return Flash(reason(e), ok=False)
        if table == "Aaa.Users":
            self.sessions.drop_user(str(index[0]))  # a deleted user's sessions end
        return Flash("The row was deleted.")


# ---------------------------------------------------------------------------------------------- helpers
def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadForm("no such table") from None


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
