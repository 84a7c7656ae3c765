"""Configuration: settings, stack files, faas-cli's config, secrets read from files.

    settings  one resolver: flag > environment > stack.yml > default
    names     function names and namespaces: NAME.NAMESPACE, and the DNS-1123 rule
    secrets   client secrets and tokens from files, stdin or the environment (never argv)
    faas_cli       faas-cli's config.yml: where it is, its `auths:`, the token for a gateway
    faas_cli_edit  adding, replacing or removing faasauth's entry, every other byte kept
    proxies        which proxy a request goes through (loopback: never one)
"""
