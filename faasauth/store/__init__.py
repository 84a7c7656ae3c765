"""Where faasauth keeps things, and the locks that keep writers apart.

    home             the home directory: private (0700/0600) files, state, locks
    locking          a cross-process flock with a timeout
    backends         the token store interface; the file and null backends
    keyring_backend  the OS keyring backend (imported only when used: keyring is slow)
    choice           FAASAUTH_TOKEN_STORE and the automatic, remembered choice
    cache            TokenCache: typed find/save/delete and the lock, owning the key format
    remembered       functions known to ask for a token, per gateway
"""
