"""One module per command, each exporting `command`; faasauth.cli.app loads them lazily.

    auth  exchange  invoke  status  logout  proxy  sandbox  completion  help

A command turns its options into one request object, calls one flow (faasauth.flows),
and renders the result (faasauth.cli.render); it holds no logic of its own.
"""
