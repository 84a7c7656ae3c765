"""faasauth: call OpenFaaS functions protected by OpenFaaS IAM function authentication."""

__version__ = "0.1.0"
