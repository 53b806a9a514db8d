"""seecodes-conformance: a contract-conformance harness for the SeeCodes Execution Engine 3.1.10."""

__version__ = "0.1.0"
PROTOCOL_VERSION = "3.1.10"
