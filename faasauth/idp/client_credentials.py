"""The client credentials grant (RFC 6749 4.4): a confidential client logs in as itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faasauth.idp.forms import GRANT_CLIENT_CREDENTIALS, token_request
from faasauth.runtime import Runtime
from faasauth.tokens.response import TokenResponse

if TYPE_CHECKING:
    from faasauth.idp.grant_call import GrantCall


def client_credentials(rt: Runtime, call: GrantCall) -> TokenResponse:
    form: dict[str, Any] = {"grant_type": GRANT_CLIENT_CREDENTIALS}
    if call.request.chosen_scope:
        form["scope"] = call.request.chosen_scope
    return token_request(rt, call.endpoints.token_endpoint, form, call.client)
