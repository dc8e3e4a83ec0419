"""The Snmp service: the SNMP agent (:mod:`.agent`) and its access policy (:mod:`.policy`)."""

from emulator.faces.snmp.agent import SnmpEngine
from emulator.faces.snmp.policy import AccessPlan, UsmUser, access_plan, engine_id_for, trap_destinations

__all__ = ["AccessPlan", "SnmpEngine", "UsmUser", "access_plan", "engine_id_for", "trap_destinations"]
