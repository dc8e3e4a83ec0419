"""The module-scoped test PKI of the certificate unit tests: ``pki, ca = pki_fixtures("ec", "Root A")`` at the top
of a test module gives it the fixtures ``pki`` (a :class:`testkit.pki.Pki` of that key kind) and ``ca`` (its
root CA with that name)."""

from __future__ import annotations

from typing import Any

import pytest

from testkit.pki import Issued, Pki


def pki_fixtures(kind: str, root_name: str) -> tuple[Any, Any]:
    @pytest.fixture(scope="module")
    def pki() -> Pki:
        return Pki(kind)

    @pytest.fixture(scope="module")
    def ca(pki: Pki) -> Issued:
        return pki.ca(root_name)

    return pki, ca
