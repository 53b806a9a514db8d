"""The conformance suites.

They live here, at the repository root, so plain `pytest` in a checkout runs them; the wheel
ships them as ``seecodes_conformance.suites`` (pyproject.toml maps this folder), where the
``seecodes-conformance`` command finds and runs them. This file makes the mapping a regular
package, so an editable install resolves it too.
"""
