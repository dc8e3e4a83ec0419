"""The building blocks of a page definition (``web_ui.pages`` and ``web_ui.pages_telephony`` hold the pages
themselves, as data): a ``Page`` is sections of fields, each field bound to one parameter; ``Choices``
translates a parameter's enum labels to the texts the hardware shows."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENABLE_YES_NO", "Choices", "Field", "Page", "Section"]


@dataclass(frozen=True, slots=True)
class Choices:
    """Display text <-> parameter value, in the order the list shows them."""

    pairs: tuple[tuple[str, str], ...]  # (value, shown)

    def shown(self, value: str) -> str:
        for v, s in self.pairs:
            if v.lower() == value.lower():
                return s
        return value

    def value(self, shown: str) -> str:
        """The parameter value for a submitted text (unknown text passes through to be refused)."""
        for v, s in self.pairs:
            if s == shown:
                return v
        return shown


ENABLE_YES_NO = Choices((("Enable", "Yes"), ("Disable", "No")))


@dataclass(frozen=True, slots=True)
class Field:
    """One input bound to a parameter: a scalar name (``form``) or a column name (``grid``)."""

    param: str
    label: str | None = None  # None: the catalog title
    choices: Choices | None = None
    readonly: bool = False
    default: str | None = None  # endpoint sections: the scalar used when "Select Endpoint" is Default


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    kind: str = "form"  # form | grid | status | endpoint | custom
    fields: tuple[Field, ...] = ()
    table: str | None = None
    index_label: str | None = None  # grid: the heading of the index column (None: catalog title)
    add: bool = False
    delete: bool = False
    row_labels: tuple[str, ...] = ()  # grid: names shown instead of the index, by position
    block: str = ""  # custom: the template block
    buttons: tuple[str, ...] = ("Apply",)
    move: bool = False  # grid: each row has the table's Up / Down row commands (the call router's tables)
    marks: bool = False  # mark the fields the emulator stores without acting on (the behaviour map)


@dataclass(frozen=True, slots=True)
class Page:
    menu: str
    name: str
    sections: tuple[Section, ...]
    admin: bool = False  # only Admin users may open it (Management/Access Control)
    extra_buttons: tuple[str, ...] = ()
    endpoint_kinds: tuple[str, ...] = ()  # the units that have it, by endpoint kind (POTS: "fxs"); empty: every unit

    def on(self, endpoint_kind: str) -> bool:
        """Whether a unit whose endpoints are of this kind (``Profile.endpoint_kind``) has this page."""
        return not self.endpoint_kinds or endpoint_kind in self.endpoint_kinds

    @property
    def path(self) -> str:
        """URL path: ``/SIP/Gateways``; Reboot (no menu) is ``/Reboot``."""
        return "/" + (f"{self.menu}/{self.name}" if self.menu else self.name).replace(" ", "_")

    @property
    def title(self) -> str:
        return f"{self.menu}/{self.name}" if self.menu else self.name

