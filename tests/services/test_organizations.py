import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from agentic.services.organizations import create_organization, slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme", "acme"),
        ("Zürich Robotics AG", "zurich-robotics-ag"),
        ("  Hello,   World!  ", "hello-world"),
        ("日本語", "org"),
        ("x" * 100, "x" * 48),
        ("a-" * 40, ("a-" * 24).rstrip("-")),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


@pytest.mark.usefixtures("backend")
async def test_slugs_are_unique(session: AsyncSession) -> None:
    first = await create_organization(session, name="Acme")
    second = await create_organization(session, name="ACME")
    third = await create_organization(session, name="acme!")
    await session.commit()
    assert [first.slug, second.slug, third.slug] == ["acme", "acme-2", "acme-3"]
