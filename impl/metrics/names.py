"""`name[]`: the rule lives with the contract (sysinfo_contract.names), which the client
applies too; the server's modules read it here."""

from sysinfo_contract.names import selects, wanted_names

__all__ = ["selects", "wanted_names"]
