"""Calling protected OpenFaaS functions from Python with faasauth.

Log in once with the CLI (`faasauth auth ...`), or pass `subject=` (see below); then:

    python examples/library.py            # OPENFAAS_URL names the gateway

Try it without a cluster:

    faasauth sandbox -- sh -c 'faasauth auth && python examples/library.py'
"""

from __future__ import annotations

import asyncio

import httpx

import faasauth


def with_a_client() -> None:
    # FunctionAuth answers the IAM challenge: the first call to a protected function is
    # probe -> exchange -> retry; later calls send the cached token at once.
    auth = faasauth.FunctionAuth()  # the gateway from OPENFAAS_URL, stack.yml or default
    with httpx.Client(base_url=auth.gateway, auth=auth) as client:
        answer = client.post("/function/echo-auth", content=b"hello from httpx")
        answer.raise_for_status()
        print(answer.text)


async def with_an_async_client() -> None:
    auth = faasauth.FunctionAuth()
    async with httpx.AsyncClient(base_url=auth.gateway, auth=auth) as client:
        answers = await asyncio.gather(
            *(client.post("/function/echo-auth", content=f"call {i}".encode()) for i in range(3))
        )
        print(", ".join(a.text for a in answers))


def in_one_line() -> None:
    print(faasauth.invoke("echo-auth", b"hello from faasauth.invoke").text)
    token = faasauth.function_token("openfaas-fn:echo-auth")  # the `faasauth exchange` cache
    print(f"a function token of {len(token)} characters")


if __name__ == "__main__":
    try:
        with_a_client()
        asyncio.run(with_an_async_client())
        in_one_line()
    except faasauth.FaasauthError as error:  # NotLoggedIn, ExchangeRefused, TransientFailure...
        raise SystemExit(f"faasauth: {error.message}" + (f"\nhint: {error.hint}" if error.hint else ""))
