"""Facts about each broker, shared by its transport, its cleanup, the CLI, the app and the
deploy programs and their tests: resource names and patterns, tags and labels, defaults, error
codes, the API calls a node makes and the permissions they need.

Modules here import no broker SDK and nothing of the runtime, so an operations tool (the
cleanup function, a deploy program) can read them without pulling in a transport.
"""
