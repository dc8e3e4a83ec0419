"""The Telephony, Call Router and POTS menus of the web interface, as data (``web_ui.pages`` puts them in the menu).

Page names: ``Telephony/DTMF Maps``, ``Call Router/Status`` and ``Call Router/Auto-routing`` are the hardware's
(documented); ``Call Router/Route Config``, ``Mappings``, ``Hunt``, ``Signaling Properties`` and ``Telephony/
Services``, ``Call Forward``, ``Tones``, ``Misc`` and ``POTS/Config`` are emulator choices after the vendor's menu
words. Field labels are the catalog titles (the MIB's), the index column of an endpoint's table "Endpoint".

Call Router: the configuration tables list their rows with their ``Config Status``; rows are added (the add
line), deleted, and moved with the tables' ``Up`` / ``Down`` row commands; a field naming another table's rows is
a list of those rows (``web_ui.references``). Edits are staged, as on the unit: "Apply Config" runs
``CRout.ApplyConfig`` and the section above the tables shows ``CRout.ConfigModifiedStatus``.

Telephony and POTS: sections with ``marks`` show, beside each value the emulator keeps without acting on it,
the behaviour map's class (``stored``, ``hardware``: an emulator addition; ``firmware_model/behaviour.py``).
"""

from __future__ import annotations

from web_ui.page_types import ENABLE_YES_NO, Choices, Field, Page, Section

__all__ = ["CALL_ROUTER_PAGES", "POTS_PAGES", "TELEPHONY_PAGES"]

CRITERIA_TYPE = Choices((("E164", "E.164"), ("SipUsername", "SIP Username")))
ENDPOINT = "Endpoint"


def _f(*names: str) -> tuple[Field, ...]:
    return tuple(Field(n) for n in names)


def _ro(*names: str) -> tuple[Field, ...]:
    return tuple(Field(n, readonly=True) for n in names)


def _specific(*names: str) -> tuple[Field, ...]:
    """An endpoint-specific table: its "Endpoint Specific" switch, then its values."""
    return (Field("EnableConfig", "Endpoint Specific", ENABLE_YES_NO), *_f(*names))


def _ep_grid(title: str, table: str, fields: tuple[Field, ...]) -> Section:
    """A table of one row per endpoint, its values marked when the emulator does not act on them."""
    return Section(title, kind="grid", table=table, index_label=ENDPOINT, fields=fields, marks=True)


def _status(title: str, table: str) -> Section:
    return Section(title, kind="status", table=table, buttons=())


# ---------------------------------------------------------------------------------------------- Call Router
CONFIG_STATUS = Section("Configuration Status", fields=(
    Field("CRout.ConfigModifiedStatus", "Configuration Modified Status", readonly=True),), buttons=("Apply Config",))


def _crout(title: str, table: str, fields: tuple[Field, ...]) -> Section:
    """A call router table: rows added, edited, deleted, moved; each row's Config Status."""
    return Section(title, kind="grid", table=f"CRout.{table}", index_label="Index", add=True, delete=True, move=True,
                   fields=(*fields, Field("ConfigStatus", "Config Status", readonly=True)))


CALL_ROUTER_PAGES: tuple[Page, ...] = (
    Page("Call Router", "Status", (
        CONFIG_STATUS,
        _status("Interfaces", "CRout.InterfaceStatus"),
        _status("Routes", "CRout.RouteStatus"),
        _status("Mapping Types", "CRout.MappingTypeStatus"),
        _status("Mapping Expressions", "CRout.MappingExpressionStatus"),
        _status("Hunts", "CRout.HuntStatus"),
        _status("Signaling Properties", "CRout.SignalingPropertiesStatus"),
        _status("SIP Headers Translations", "CRout.SipHeadersTranslationStatus"),
        _status("Call Properties Translations", "CRout.CallPropertiesTranslationStatus"),
        _status("SIP Redirects", "CRout.SipRedirectStatus"),
    )),
    Page("Call Router", "Route Config", (
        CONFIG_STATUS,
        _crout("Routes", "Route", _f("SourceCriteria", "PropertiesCriteria", "ExpressionCriteria", "Destination",
                                     "Mappings", "SignalingProperties")),
        _crout("SIP Redirects", "SipRedirect", _f("Name", "DestinationHost")),
    )),
    Page("Call Router", "Mappings", (
        CONFIG_STATUS,
        _crout("Mapping Types", "MappingType", _f("Name", "Criteria", "Transformation")),
        _crout("Mapping Expressions", "MappingExpression", _f("Name", "Criteria", "Transformation", "SubMappings")),
    )),
    Page("Call Router", "Hunt", (
        CONFIG_STATUS,
        _crout("Hunts", "Hunt", _f("Name", "Destinations", "SelectionAlgorithm", "Timeout", "Causes")),
    )),
    Page("Call Router", "Signaling Properties", (
        CONFIG_STATUS,
        _crout("Signaling Properties", "SignalingProperties", _f(
            "Name", "EarlyConnect", "EarlyDisconnect", "DestinationHost", "Allow180Sdp", "Allow183NoSdp", "Privacy",
            "CallPropertiesTranslation", "SipHeadersTranslation")),
        _crout("SIP Headers Translations", "SipHeadersTranslation", _f("Name", "SipHeader", "BuiltFrom", "FixValue")),
        _crout("Call Properties Translations", "CallPropertiesTranslation",
               _f("Name", "CallProperty", "BuiltFrom", "FixValue")),
    )),
    Page("Call Router", "Auto-routing", (
        CONFIG_STATUS,
        Section("Auto-routing", fields=(
            Field("CRout.AutoRoutingEnable", "Auto-routing Enable"),
            Field("CRout.AutoRoutingCriteriaType", "Criteria Type", CRITERIA_TYPE),
            Field("CRout.AutoRoutingIncomingMappings"),
            Field("CRout.AutoRoutingOutgoingMappings"),
            Field("CRout.AutoRoutingIncomingSignalingProperties"),
            Field("CRout.AutoRoutingOutgoingSignalingProperties"),
        )),
        Section("Endpoints Auto-routing", kind="grid", table="CRout.AutoRouting", index_label=ENDPOINT, fields=(
            Field("Autoroutable"), Field("AutoRoutingGateway"), Field("AutoRoutingDestination"),
            *_ro("E164", "SipUsername", "Name"))),
    )),
)

# ---------------------------------------------------------------------------------------------- Telephony
TELEPHONY_PAGES: tuple[Page, ...] = (
    Page("Telephony", "Services", (
        Section("Default Services", marks=True, fields=_f(
            "EpServ.DefaultHoldEnable", "EpServ.DefaultCallWaitingEnable",
            "EpServ.DefaultCallWaitingActivationDtmfMap", "EpServ.DefaultCallWaitingDeactivationDtmfMap",
            "EpServ.DefaultCallWaitingCancelDtmfMap", "EpServ.DefaultSecondCallEnable",
            "EpServ.DefaultSecondCallDisconnectAction", "EpServ.DefaultTransferBlindEnable",
            "EpServ.DefaultTransferAttendedEnable", "EpServ.DefaultConferenceEnable", "EpServ.DefaultConferenceType",
            "EpServ.DefaultCallHookFlashProcessing", "EpServ.DefaultCallAllowDirectIp")),
        Section("Automatic Call", marks=True, fields=_f(
            "EpServ.DefaultAutoCallEnable", "EpServ.DefaultAutoCallTargetAddress", "EpServ.DefaultDelayedHotlineEnable",
            "EpServ.DefaultDelayedHotlineCondition", "EpServ.DefaultDelayedHotlineTargetAddress")),
        Section("Call Completion", marks=True, fields=_f(
            "EpServ.DefaultCallCompletionBusySubscriberEnable",
            "EpServ.DefaultCallCompletionBusySubscriberDtmfMapActivation",
            "EpServ.DefaultCallCompletionNoReplyEnable", "EpServ.DefaultCallCompletionNoReplyDtmfMapActivation",
            "EpServ.DefaultCallCompletionDtmfMapDeactivation", "EpServ.DefaultCallCompletionExpirationTimeout",
            "EpServ.DefaultCallCompletionMethod", "EpServ.DefaultCallCompletionAutoReactivateEnable",
            "EpServ.DefaultCallCompletionAutoReactivateDelay", "EpServ.DefaultCallCompletionEarlyMediaBehaviour",
            "EpServ.DefaultCallCompletionPollingInterval")),
        _ep_grid("Hold", "EpServ.EpSpecificHold", _specific("Enable")),
        _ep_grid("Call Waiting", "EpServ.EpSpecificCallWaiting", _specific("Enable")),
        _ep_grid("Call Waiting User Configuration", "EpServ.CallWaitingUserConfig", _f("State")),
        _ep_grid("Second Call", "EpServ.EpSpecificSecondCall", _specific("Enable", "DisconnectAction")),
        _ep_grid("Transfer", "EpServ.EpSpecificTransfer", _specific("BlindEnable", "AttendedEnable")),
        _ep_grid("Conference", "EpServ.EpSpecificConference", _specific("Enable", "Type")),
        _ep_grid("Hook Flash Processing", "EpServ.EpSpecificCall", _specific("HookFlashProcessing")),
        _ep_grid("Automatic Call Endpoints", "EpServ.EpSpecificAutoCall", _specific("Enable", "TargetAddress")),
        _ep_grid("Delayed Hotline", "EpServ.EpSpecificDelayedHotline", _specific("Enable", "Condition",
                                                                                 "TargetAddress")),
        _ep_grid("Call Completion Endpoints", "EpServ.EpSpecificCallCompletion",
                 _specific("BusySubscriberEnable", "NoReplyEnable")),
        _status("Hold Status", "EpServ.HoldStatus"),
        _status("Call Waiting Status", "EpServ.CallWaitingStatus"),
        _status("Second Call Status", "EpServ.SecondCallStatus"),
        _status("Transfer Status", "EpServ.TransferStatus"),
        _status("Conference Status", "EpServ.ConferenceStatus"),
        _status("Call Completion Status", "EpServ.CallCompletionConfig"),
        Section("Call Statistics", kind="grid", table="EpServ.CallStatistics", index_label=ENDPOINT, buttons=(),
                fields=_ro("IncomingCallsReceived", "IncomingCallsAnswered", "IncomingCallsConnected",
                           "IncomingCallsFailed", "OutgoingCallsAttempted", "OutgoingCallsAnswered",
                           "OutgoingCallsConnected", "OutgoingCallsFailed", "CallsDropped", "TotalCallTime")),
    )),
    Page("Telephony", "Call Forward", (
        Section("Default Call Forward", marks=True, fields=_f(
            "EpServ.DefaultForwardUnconditionalEnable", "EpServ.DefaultForwardUnconditionalDtmfMapActivation",
            "EpServ.DefaultForwardUnconditionalDtmfMapDeactivation", "EpServ.DefaultForwardOnBusyEnable",
            "EpServ.DefaultForwardOnBusyDtmfMapActivation", "EpServ.DefaultForwardOnBusyDtmfMapDeactivation",
            "EpServ.DefaultForwardNoAnswerEnable", "EpServ.DefaultForwardNoAnswerTimeout",
            "EpServ.DefaultForwardNoAnswerDtmfMapActivation", "EpServ.DefaultForwardNoAnswerDtmfMapDeactivation")),
        _ep_grid("Unconditional", "EpServ.EpSpecificForwardUnconditional", _specific("Enable")),
        _ep_grid("Unconditional Forwarding", "EpServ.ForwardUnconditionalConfig", _f("Activation",
                                                                                     "ForwardingAddress")),
        _ep_grid("On Busy", "EpServ.EpSpecificForwardOnBusy", _specific("Enable")),
        _ep_grid("On Busy Forwarding", "EpServ.ForwardOnBusyConfig", _f("Activation", "ForwardingAddress")),
        _ep_grid("No Answer", "EpServ.EpSpecificForwardNoAnswer", _specific("Enable", "Timeout")),
        _ep_grid("No Answer Forwarding", "EpServ.ForwardNoAnswerConfig", _f("Activation", "ForwardingAddress")),
    )),
    Page("Telephony", "DTMF Maps", (
        Section("DTMF Map Timeouts", marks=True, fields=_f(
            "EpServ.DtmfMapTimeoutFirstDtmf", "EpServ.DtmfMapTimeoutInterDtmf", "EpServ.DtmfMapTimeoutCompletion")),
        Section("Allowed DTMF Maps", kind="grid", table="EpServ.CallDtmfMapAllowed", index_label="Index", marks=True,
                fields=_f("Enable", "ApplyTo", "EpId", "DtmfMap", "DtmfTransformation", "TargetHost", "Emergency")),
        Section("Refused DTMF Maps", kind="grid", table="EpServ.CallDtmfMapRefuse", index_label="Index", marks=True,
                fields=_f("Enable", "ApplyTo", "EpId", "DtmfMap")),
        _ep_grid("Endpoint DTMF Map Timeouts", "EpServ.EpSpecificDtmfMapTimeout",
                 _specific("FirstDtmf", "InterDtmf", "Completion")),
    )),
    Page("Telephony", "Tones", (
        Section("Country", marks=True, fields=_f("TelIf.CountrySelection")),
        _status("Country Tones", "TelIf.CountryToneStatus"),
        Section("Tones Override", kind="grid", table="TelIf.CountryCustomizationTone", marks=True,
                fields=_f("Override", "Pattern")),
        Section("Distinctive Call Waiting Tones", kind="grid", table="TelIf.DistinctiveCallWaitingTone",
                index_label="Index", marks=True, fields=_f("ToneId", "Pattern")),
    )),
    Page("Telephony", "Misc", (
        Section("User Gain", marks=True, fields=_f(
            "TelIf.DefaultCountryCustomizationUserGainInputOffset",
            "TelIf.DefaultCountryCustomizationUserGainOutputOffset")),
        _ep_grid("Endpoint User Gain", "TelIf.SpecificCountryCustomizationUserGain",
                 _specific("InputOffset", "OutputOffset")),
        Section("Dialing", marks=True, fields=_f(
            "TelIf.DefaultCountryCustomizationDialingOverride",
            "TelIf.DefaultCountryCustomizationDialingInterDtmfDialDelay",
            "TelIf.DefaultCountryCustomizationDialingDtmfDuration",
            "TelIf.DefaultCountryCustomizationDialingInterMfR1DialDelay",
            "TelIf.DefaultCountryCustomizationDialingMfR1Duration")),
        _ep_grid("Endpoint Dialing", "TelIf.SpecificCountryCustomizationDialing", _specific(
            "Override", "InterDtmfDialDelay", "DtmfDuration", "InterMfR1DialDelay", "MfR1Duration")),
        Section("Machine Detection", marks=True, fields=_f(
            "TelIf.DefaultMachineDetectionCngToneDetection", "TelIf.DefaultMachineDetectionCedToneDetection",
            "TelIf.DefaultMachineDetectionV21ModulationDetection",
            "TelIf.DefaultMachineDetectionBehaviorOnCedToneDetection")),
        _ep_grid("Endpoint Machine Detection", "TelIf.SpecificMachineDetection", _specific(
            "CngToneDetection", "CedToneDetection", "V21ModulationDetection", "BehaviorOnCedToneDetection")),
        _ep_grid("DTMF Detection", "TelIf.InteropDtmfDetection", _f(
            "RiseTimeCriteria", "PositiveTwist", "NegativeTwist", "MaxPowerThreshold", "MinPowerThreshold",
            "BreakPowerThreshold")),
        _ep_grid("Start Call in Voice Band Data", "TelIf.InteropStartCallInVbd", _f("Enable")),
        Section("Music on Hold", marks=True, fields=_f("TelIf.MusicOnHoldStreamingEnable")),
    )),
)

# ---------------------------------------------------------------------------------------------- POTS (FXS lines)
POTS_PAGES: tuple[Page, ...] = (
    Page("POTS", "Config", (
        Section("FXS Configuration", marks=True, fields=_f(
            "Pots.FxsLineSupervisionMode", "Pots.FxsDisconnectDelay", "Pots.FxsInbandRingback",
            "Pots.FxsShutdownBehavior", "Pots.FxsPowerDropOnDisconnectDuration", "Pots.FxsServiceActivation",
            "Pots.FxsEmergencyCallOverride", "Pots.FxsEmergencyRingTimeout",
            "Pots.FxsInteropPlayLocalRingbackWhenNoMediaStream", "Pots.DtmfMapDigitDetection",
            "Pots.VocalUnitInformation")),
        Section("Caller ID", marks=True, fields=_f(
            "Pots.CallerIdCustomization", "Pots.CallerIdTransmission", "Pots.FxsCallerIdPrivateCallingPartyName")),
        _ep_grid("Caller ID Endpoints", "Pots.FxsCallerId", _f("Activation")),
        Section("Message Waiting Indicator", marks=True, fields=_f(
            "Pots.FxsDefaultMessageWaitingIndicatorActivation", "Pots.FxsDefaultVisualMessageWaitingIndicatorType",
            "Pots.FxsSipMessageAlertingEnable")),
        _ep_grid("Message Waiting Indicator Endpoints", "Pots.FxsSpecificMessageWaitingIndicator",
                 _specific("Activation")),
        Section("Distinctive Ring", kind="grid", table="Pots.FxsDistinctiveRing", index_label="Index", marks=True,
                fields=_f("RingId", "Pattern")),
        _status("Line Status", "Pots.Line"),
    ), endpoint_kinds=("fxs",)),
)
