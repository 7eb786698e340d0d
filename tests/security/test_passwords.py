import pytest

from agentic.errors import InvalidInput
from agentic.security.passwords import (
    check_password_policy,
    hash_password,
    is_common_password,
    verify_password,
)


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "Password2024!",
        "QWERTYUIOP!!",
        "123456789012",
        "iloveyou12345",
        "CorrectHorseBatteryStaple1",
    ],
)
def test_common_passwords_are_refused(password: str) -> None:
    assert is_common_password(password)
    with pytest.raises(InvalidInput, match="most common"):
        check_password_policy(password)


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "tangerine-orbit-47-kettle", "Zq8#mW2!pL9@"]
)
def test_uncommon_passwords_pass(password: str) -> None:
    assert not is_common_password(password)
    check_password_policy(password, email="someone@example.com")


def test_length_and_email_rules() -> None:
    with pytest.raises(InvalidInput, match="at least 12"):
        check_password_policy("short")
    with pytest.raises(InvalidInput, match="at most"):
        check_password_policy("x" * 1025)
    with pytest.raises(InvalidInput, match="email"):
        check_password_policy("Someone@Example.com", email="someone@example.com")


async def test_hashes_are_argon2id_and_verify() -> None:
    hashed = await hash_password("tangerine-orbit-47-kettle")
    assert hashed.startswith("$argon2id$")
    assert await verify_password(hashed, "tangerine-orbit-47-kettle")
    assert not await verify_password(hashed, "tangerine-orbit-47-kettlf")
    assert not await verify_password("not-a-hash", "anything")
