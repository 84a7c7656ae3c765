"""Configuration: settings, stack files, faas-cli's config, secrets read from files.

    settings  one resolver: flag > environment > stack.yml > default
    secrets   client secrets and tokens from files, stdin or the environment (never argv)
    faas_cli  faas-cli's config.yml: the `auth: oauth2` token for a gateway
"""
