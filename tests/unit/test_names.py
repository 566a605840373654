from __future__ import annotations

import pytest

from gpucloud.errors import ConfigError
from gpucloud.names import check_tenant_name


@pytest.mark.parametrize("name", ["acme", "a", "a1-b2", "x" * 32])
def test_valid_tenant_names(name: str) -> None:
    assert check_tenant_name(name) == name


@pytest.mark.parametrize("name", ["", "Acme", "1acme", "acme-", "a_b", "../x", "a/b", "x" * 33, "аcme", "acme ", None])
def test_invalid_tenant_names_are_refused_with_the_rule(name: object) -> None:
    with pytest.raises(ConfigError, match="lower-case letter first"):
        check_tenant_name(name)


@pytest.mark.parametrize("name", ["admin", "default", "all", "region"])
def test_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="is reserved"):
        check_tenant_name(name)
