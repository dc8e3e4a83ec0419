"""What the model's refusals of an input share (a certificate, an encrypted file, a firmware pack)."""

from __future__ import annotations

__all__ = ["KindError"]


class KindError(ValueError):
    """A refused input: ``kind`` names the reason (a short fixed word that faces and notifications map to their own
    codes), ``message`` says it to people and is the exception's text."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message
