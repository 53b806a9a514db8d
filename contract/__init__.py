"""Packaged data (see seecodes_conformance.resources); no code lives here."""
