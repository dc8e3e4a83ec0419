"""The web interface's menu and pages, as data.

Menu section / page names, table titles, field labels and button texts are the hardware's, character
for character (``../shared/spec``: Media5 DGW web pages). A field is bound to one DGW parameter; its
label is the hardware's where known, otherwise the catalog title (``Param.title``), and its help is
the catalog's help text (our own words). Where the hardware shows friendlier text than the parameter's
enum labels ("Secure with fallback" for ``SecureWithFallback``, "Yes" for ``Enable``), the mapping is
written here as data (``Choices``) and translated both ways by the web face; the configuration still
validates every value itself.

Section kinds:

``form``      scalar parameters, one line each (label, input).
``grid``      a configuration table, one row per index, one column per field; ``add``/``delete`` for
              dynamic tables (the add line uses the same fields plus the index columns).
``status``    a read-only table fed by the engines (possibly empty).
``endpoint``  Media/Security: a form over the Default scalars or over one endpoint's row of
              ``Mipt.EpSpecificSecurity`` (the "Select Endpoint" list).
``custom``    a section drawn by its own template block (services, certificates, scripts, reboot...).
"""

from __future__ import annotations

from web_ui.page_types import ENABLE_YES_NO, Choices, Field, Page, Section
from web_ui.pages_telephony import CALL_ROUTER_PAGES, POTS_PAGES, TELEPHONY_PAGES

__all__ = [
    "ALL_PATHS",
    "BUTTON_ACTIONS",
    "CODECS",
    "CODEC_COLUMNS",
    "ENABLE_YES_NO",
    "MENU",
    "PAGES",
    "Choices",
    "Field",
    "Page",
    "Section",
    "page_by_path",
]

GATEWAY_TYPE = Choices((("TrunkGateway", "Trunk"), ("EndpointGateway", "Endpoint")))
RTP_MODE = Choices((("Unsecure", "Unsecure"), ("Secure", "Secure"), ("SecureWithFallback", "Secure with fallback")))
KEY_MANAGEMENT = Choices((("Sdes", "SDES"), ("Mikey", "MIKEY")))
RTP_ENCRYPTION = Choices((("AesCm128", "AES_CM_128"), ("Null", "NULL")))


# A section button's text -> the form's ``action`` (web_ui.app dispatches on it). "Transfer Now", "Export Now",
# "Backup Now", "Restore Now", "Install" and "Rollback" are emulator choices (the vendor's are not documented);
# each applies its section's fields first, then runs the Conf or Fpu job and shows its result.
BUTTON_ACTIONS: dict[str, str] = {
    "Apply": "apply",
    "Submit": "submit",
    "Apply & Refresh Registration": "apply-refresh",
    "Transfer Now": "conf:transfer",
    "Export Now": "conf:export",
    "Backup Now": "conf:backup",
    "Restore Now": "conf:restore",
    "Install": "fpu:install",
    "Rollback": "fpu:rollback",
    "Apply Config": "crout:apply",  # the Call Router pages: CRout.ApplyConfig (emulator choice of the text)
}


def _f(*names: str) -> tuple[Field, ...]:
    return tuple(Field(n) for n in names)


def _ro(*names: str) -> tuple[Field, ...]:
    return tuple(Field(n, readonly=True) for n in names)


_CODECS: tuple[tuple[str, str], ...] = (
    ("G711Mulaw", "G.711 u-Law"),
    ("G711Alaw", "G.711 a-Law"),
    ("G722", "G.722"),
    ("G723", "G.723"),
    ("G726r16kbps", "G.726 16 kbps"),
    ("G726r24kbps", "G.726 24 kbps"),
    ("G726r32kbps", "G.726 32 kbps"),
    ("G726r40kbps", "G.726 40 kbps"),
    ("G729", "G.729"),
    ("T38", "T.38"),
    ("ClearMode", "Clear Mode"),
    ("ClearChannel", "Clear Channel"),
    ("XCCD", "X-CCD Clear Channel"),
)
CODEC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("VoiceEnable", "Voice"),
    ("VoicePriority", "Voice Priority"),
    ("DataEnable", "Data"),
    ("DataPriority", "Data Priority"),
    ("MinPTime", "Minimum Packetization Time"),
    ("MaxPTime", "Maximum Packetization Time"),
)
CODECS = _CODECS

PAGES: tuple[Page, ...] = (
    # ------------------------------------------------------------------ System
    Page("System", "Services", (
        Section("Services Status", kind="custom", block="services", buttons=()),
        Section("Startup Configuration", kind="grid", table="Scm.ServicesConfig", fields=_f("StartupType")),
    )),
    Page("System", "Endpoints", (
        Section("Unit States", kind="custom", block="unit_states", buttons=()),
        Section("Endpoints States", kind="custom", block="endpoint_states", buttons=()),
        Section("Endpoints Configuration", kind="grid", table="EpAdm.Endpoint",
                fields=(Field("InitialAdminStateConfig", "Initial Administrative State"),)),
    )),
    Page("System", "Event Log", (
        Section("Notification Severity", kind="custom", block="severity"),
        Section("Notification Events", kind="grid", table="Nlm.Events", add=True, delete=True,
                fields=_f("Activation", "Type", "Criteria", "Action")),
        Section("Local Log", kind="status", table="Nlm.LocalLogMessages", buttons=()),
    )),
    # ------------------------------------------------------------------ Network
    Page("Network", "Host", (
        Section("Time Configuration", fields=(
            Field("Hoc.StaticTimeZone", "Static Time Zone"),
            Field("Hoc.SystemTime", "Current Local Time", readonly=True),
            Field("Hoc.SystemUptime", readonly=True),
        )),
        Section("SNTP Configuration", fields=(
            Field("Hoc.SntpConfigSource", "SNTP Configuration Source"),
            Field("Hoc.StaticSntpServerHost", "Primary SNTP"),
            Field("Hoc.SntpSynchronizationPeriod"),
            Field("Hoc.SntpSynchronizationPeriodOnError"),
            Field("Hoc.SntpCurrentSource", readonly=True),
        )),
        Section("Static SNTP Servers", kind="grid", table="Hoc.StaticSntpServers", fields=_f("HostName")),
        Section("Host Name Configuration", fields=(Field("Hoc.HostName"), Field("Hoc.StaticDomainName"))),
    )),
    # ------------------------------------------------------------------ SIP
    Page("SIP", "Gateways", (
        Section("Gateway Configuration", kind="grid", table="SipEp.Gateway", index_label="Name",
                add=True, delete=True, fields=(
                    Field("Type", "Type", GATEWAY_TYPE),
                    Field("NetworkInterface", "Signaling Network"),
                    Field("Port", "Port"),
                    Field("SecurePort", "Secure Port"),
                )),
        Section("Gateway Status", kind="status", table="SipEp.GatewayStatus", buttons=()),
    )),
    Page("SIP", "Servers", (
        Section("Default Servers", fields=(
            Field("SipEp.DefaultStaticRegistrarServerHost", "Registrar Host"),
            Field("SipEp.DefaultStaticProxyHomeDomainHost", "Proxy Host"),
            Field("SipEp.DefaultStaticProxyOutboundHost", "Outbound Proxy Host"),
        ), buttons=("Submit",)),
        Section("Registrar Servers", kind="grid", table="SipEp.GwSpecificRegistration", index_label="Gateway",
                fields=(Field("EnableConfig", "Gateway Specific", ENABLE_YES_NO),
                        Field("ServerHost", "Registrar Host")),
                buttons=("Submit",)),
        Section("Proxy Servers", kind="grid", table="SipEp.GwSpecificProxy", index_label="Gateway",
                fields=(Field("EnableConfig", "Gateway Specific", ENABLE_YES_NO), Field("HomeDomainHost", "Proxy Host"),
                        Field("OutboundHost", "Outbound Proxy Host")),
                buttons=("Submit",)),
        Section("TLS Persistent Connection Status", kind="status", table="SipEp.TlsPersistentConnectionStatus",
                buttons=()),
    )),
    Page("SIP", "Registrations", (
        Section("Endpoints Registration", kind="grid", table="SipEp.UserAgent", index_label="Endpoint",
                fields=(Field("Username", "Username"), Field("FriendlyName", "Friendly Name"),
                        Field("Register", "Register", ENABLE_YES_NO), Field("GatewayName", "Gateway Name"))),
        Section("Registration Status", kind="status", table="SipEp.RegistrationStatus", buttons=()),
    )),
    Page("SIP", "Authentications", (
        Section("Authentication", kind="grid", table="SipEp.Authentication", index_label="Index",
                add=True, delete=True, fields=(
                    Field("CriteriaSelection", "Criteria"),
                    Field("EpId", "Endpoint"),
                    Field("GatewayName", "Gateway"),
                    Field("ValidateRealm", "Validate Realm", ENABLE_YES_NO),
                    Field("Realm", "Realm"),
                    Field("Username", "Username"),
                    Field("Password", "Password"),
                ), buttons=("Apply", "Apply & Refresh Registration")),
    )),
    Page("SIP", "Transport", (
        Section("Protocol Configuration", kind="grid", table="SipEp.TransportConfig", index_label="Gateway",
                fields=(Field("UdpEnable", "UDP"), Field("TcpEnable", "TCP"), Field("TlsEnable", "TLS"))),
        Section("General Configuration", kind="grid", table="SipEp.TransportConfig", index_label="Gateway",
                fields=(Field("RegistrationEnable", "Add SIP Transport in Registration"),
                        Field("ContactEnable", "Add SIP Transport in Contact Header"))),
        Section("TLS Configuration", fields=_f(
            "SipEp.TransportPersistentBasePort", "SipEp.TransportTlsVersion", "SipEp.TransportTlsCipherSuite",
            "SipEp.TransportTlsCertificateTrustLevel")),
    )),
    Page("SIP", "Interop", (
        Section("TLS Interop", fields=(
            Field("SipEp.InteropTlsCertificateValidation", "Certificate Validation"),
            Field("SipEp.InteropTlsClientAuthenticationEnable", "Client Authentication"),
            Field("SipEp.InteropForceDnsNaptrInTls"),
            Field("SipEp.InteropSiemensTransportHeaderEnable"),
        )),
        # emulator choice of place: the vendor's page for the Diversion header is not documented
        Section("Call Diversion", kind="grid", table="SipEp.DiversionConfig", index_label="Gateway",
                fields=_f("Method")),
    )),
    # ------------------------------------------------------------------ Media
    Page("Media", "Security", (
        Section("Security", kind="endpoint", table="Mipt.EpSpecificSecurity", fields=(
            Field("EnableConfig", "Endpoint Specific", ENABLE_YES_NO),
            Field("RtpMode", "Mode", RTP_MODE, default="Mipt.DefaultSecurityRtpMode"),
            Field("KeyManagement", "Key Management Protocol", KEY_MANAGEMENT,
                  default="Mipt.DefaultSecurityKeyManagement"),
            Field("RtpEncryption", "Encryption", RTP_ENCRYPTION, default="Mipt.DefaultSecurityRtpEncryption"),
            Field("Mipt.AllowUnsecureT38WithSrtp", "Allow Unsecure T.38 with Secure RTP", ENABLE_YES_NO),
        )),
        Section("SRTP Preferences", fields=(
            Field("Mipt.SrtpOfferCryptoMode", "Crypto Mode When Sending Offer"),
            Field("Mipt.SrtpAnswerCryptoMode", "Crypto Mode When Sending Answer"),
            Field("Mipt.SrtpCryptoContextBehavior", "Crypto Context Behavior"),
        )),
    )),
    Page("Media", "Codecs", (
        Section("Codecs", kind="custom", block="codecs"),
    )),
    # ------------------------------------------------------------------ Management
    Page("Management", "Configuration Scripts", (
        Section("Scripts Transfer", fields=_f(
            "Conf.ScriptsTransferProtocol", "Conf.ScriptsTransferSrvHostname", "Conf.ScriptsLocation",
            "Conf.ScriptGenericFileName", "Conf.ScriptSpecificFileName", "Conf.ScriptsTransferUsername",
            "Conf.ScriptsTransferPassword", "Conf.ScriptsSecretKey", "Conf.ScriptsAllowRepeatedExecution",
            "Conf.ScriptsTransferRetriesNumber")),
        Section("HTTPS Transfer", fields=_f(
            "Conf.ScriptsTransferHttpAuthenticationMethod", "Conf.ScriptsTransferTlsVersion",
            "Conf.ScriptsTransferCipherSuite", "Conf.ScriptsTransferCertificateValidation",
            "Conf.ScriptsTransferCertificateTrustLevel")),
        Section("Automatic Transfer", fields=_f(
            "Conf.ScriptsTransferOnRestartEnable", "Conf.ScriptsTransferPeriodicEnable",
            "Conf.ScriptsTransferPeriodicTimeUnit", "Conf.ScriptsTransferInterval", "Conf.ScriptsTransferTimeRange",
            "Conf.ScriptsDhcpDownloadEnable", "Conf.ScriptsDhcpOptionsFormat",
            "Conf.ScriptsTransferOnRestartDhcpScriptMaxDelay")),
        Section("Transfer Status", fields=_ro(
            "Conf.ScriptsStatsCurrentTransferState", "Conf.ScriptsStatsLastTransferResult",
            "Conf.ScriptsStatsLastTransferDateTime"), buttons=("Transfer Now",)),
        Section("Scripts Export", fields=_f(
            "Conf.ScriptExportContent", "Conf.ScriptExportServiceName", "Conf.ScriptExportUrl",
            "Conf.ScriptExportSecretKey")),
        Section("Export Status", fields=_ro(
            "Conf.ScriptsStatsCurrentExportState", "Conf.ScriptsStatsLastExportResult",
            "Conf.ScriptsStatsLastExportDateTime"), buttons=("Export Now",)),
        Section("Export Configuration Script", kind="custom", block="script_export", buttons=()),
        Section("Import Configuration Script", kind="custom", block="script_import", buttons=()),
    )),
    Page("Management", "Backup/Restore", (
        Section("Configuration Image", fields=_f(
            "Conf.ImageTransferProtocol", "Conf.ImageTransferSrvHostname", "Conf.ImageLocation", "Conf.ImageFileName",
            "Conf.ImageTransferUsername", "Conf.ImageTransferPassword", "Conf.ImageBackupContent",
            "Conf.ImagePrivacyAlgo", "Conf.ImageSecretKey", "Conf.ImageTransferTlsVersion",
            "Conf.ImageTransferCipherSuite")),
        Section("Backup/Restore Status", fields=_ro("Conf.ImageBackupStatus", "Conf.ImageRestoreStatus"),
                buttons=("Backup Now", "Restore Now")),
    )),
    Page("Management", "Firmware Upgrade", (
        Section("Firmware Upgrade Configuration", fields=_f(
            "Fpu.MfpUrl", "Fpu.MfpTransferUsername", "Fpu.MfpTransferPassword", "Fpu.AutomaticRestartEnable",
            "Fpu.AutomaticRestartGraceDelay", "Fpu.DefaultSettingsOnInstall"), buttons=("Apply", "Install")),
        Section("HTTPS Transfer", fields=_f(
            "Fpu.MfpTransferTlsVersion", "Fpu.MfpTransferCipherSuite", "Fpu.MfpTransferCertificateValidation",
            "Fpu.MfpTransferCertificateTrustLevel")),
        Section("Firmware Upgrade Status", fields=_ro(
            "Fpu.Status", "Fpu.MfpLastInstallationResult", "Fpu.MfpLastInstallationDateTime",
            "Fpu.MfpRollbackAvailable"), buttons=("Rollback",)),
        Section("Installed MFPs", kind="status", table="Fpu.MfpInstalledInfo", buttons=()),
    )),
    Page("Management", "Certificates", (
        Section("Certificate Import", kind="custom", block="cert_import", buttons=()),
        Section("Host Certificates", kind="custom", block="cert_host", buttons=()),
        Section("Other Certificates", kind="custom", block="cert_other", buttons=()),
    )),
    Page("Management", "Access Control", (
        Section("Users", kind="grid", table="Aaa.Users", index_label="User Name", add=True, delete=True, fields=(
            Field("Password", "Password"), Field("AccessRights", "Access Rights"),
            Field("LockProtectionEnable", "Lock Protection", ENABLE_YES_NO))),
        Section("Users Status", kind="status", table="Aaa.UsersStatus", buttons=()),
        Section("Login Protection", fields=_f("Aaa.LoginLockedMaxRetry", "Aaa.LoginLockedTimeoutS")),
    ), admin=True),
    Page("Management", "SNMP", (
        Section("SNMP Configuration", fields=_f(
            "Snmp.EnableSnmpV1", "Snmp.EnableSnmpV2", "Snmp.EnableSnmpV3", "Snmp.Port", "Snmp.Community",
            "Snmp.SnmpUser", "Snmp.AuthProtocol", "Snmp.PrivProtocol", "Snmp.PrivPassword")),
        Section("Traps", fields=_f("Snmp.EnableTrap", "Snmp.TrapDest")),
    )),
    Page("Management", "Misc", (
        Section("Web Server", fields=_f(
            "Web.HttpMode", "Web.ServerPort", "Web.SecureServerPort", "Web.TlsVersion", "Web.HttpsCipherSuite")),
    )),
    Page("", "Reboot", (
        Section("Reboot", kind="custom", block="reboot", buttons=()),
    )),
)

PAGES += (*POTS_PAGES, *TELEPHONY_PAGES, *CALL_ROUTER_PAGES)  # web_ui.pages_telephony

MENU: tuple[tuple[str, tuple[Page, ...]], ...] = tuple(
    (m, tuple(p for p in PAGES if p.menu == m))
    for m in ("System", "Network", "POTS", "SIP", "Media", "Telephony", "Call Router", "Management")
)

_BY_PATH: dict[str, Page] = {p.path: p for p in PAGES}


def page_by_path(path: str) -> Page | None:
    return _BY_PATH.get(path)


ALL_PATHS: tuple[str, ...] = tuple(p.path for p in PAGES)
