"""Facts about each broker shared by its transport, cleanup, CLI and deploy programs.

Names, defaults and the permissions each role needs live here once, as plain constants: no
SDK imports, so the deploy programs and their tests can read them without a broker's client
library installed.
"""
