"""One module per command's work; commands call exactly one of these.

    auth      `faasauth auth`: choose the login source, run it, keep the login
    login     the stored login: load it, renew it under its lock when near expiry
    subject   where the subject token comes from (file, env, stored login, faas-cli)
    exchange  a function token: from the cache, else one exchange under the entry lock
    invoke    build an invocation; probe -> challenge -> exchange -> retry once
    status    what the store holds (for `status`) and removing it (for `logout`)
    faas_cli  one login for faas-cli too: its config.yml entry written, renewed, removed

Flows talk to the identity provider through `faasauth.idp` and to the gateway through
`faasauth.gateway`; they never import `faasauth.cli`.
"""
