"""JWTs as an identity provider would send them, against a server set up for RS256."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from config import Settings
from tests.identities import bearer
from web.app import create_app

PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = (
    PRIVATE_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
AUDIENCE, ISSUER = "threadline", "https://id.example.test/"


@pytest.fixture
async def rs256(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        replace(settings, jwt_public_key=PUBLIC_PEM, jwt_audience=AUDIENCE, jwt_issuer=ISSUER)
    )
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            yield client


def claims(**changes: Any) -> dict[str, Any]:
    # Valid for a day: the parametrized tokens are signed when the suite is collected,
    # and the PostgreSQL half of `make test` reaches them more than ten minutes later.
    found = {"sub": "alice", "exp": int(time.time()) + 86_400, "aud": AUDIENCE, "iss": ISSUER}
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


async def viewer(client: httpx.AsyncClient, credential: str) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": "{ viewer { userId } }"}, headers=bearer(credential)
    )


async def test_a_signed_rs256_token_names_the_user(rs256: httpx.AsyncClient) -> None:
    response = await viewer(rs256, jwt.encode(claims(), PRIVATE_KEY, algorithm="RS256"))
    assert response.json() == {"data": {"viewer": {"userId": "alice"}}}


@pytest.mark.parametrize(
    ("token", "message"),
    [
        # This server has no HS256 secret: no HS256 token passes, whatever signed it.
        (jwt.encode(claims(), "x" * 32, algorithm="HS256"), "HS256"),
        (jwt.encode(claims(), "", algorithm="none"), "'none'"),
        (jwt.encode(claims(aud="other"), PRIVATE_KEY, algorithm="RS256"), "audience"),
        (jwt.encode(claims(iss="https://evil.test/"), PRIVATE_KEY, algorithm="RS256"), "issuer"),
        (jwt.encode(claims(exp=None), PRIVATE_KEY, algorithm="RS256"), "exp"),
        (jwt.encode(claims(sub=None), PRIVATE_KEY, algorithm="RS256"), "sub"),
        (jwt.encode(claims(exp=int(time.time()) - 5), PRIVATE_KEY, algorithm="RS256"), "expired"),
        ("not.a.jwt", "not a JWT"),
    ],
    ids=["hs256", "none", "audience", "issuer", "no-exp", "no-sub", "expired", "garbage"],
)
async def test_tokens_that_must_not_pass(
    rs256: httpx.AsyncClient, token: str, message: str
) -> None:
    response = await viewer(rs256, token)
    assert response.status_code == 401
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert message.lower() in error["message"].lower()
