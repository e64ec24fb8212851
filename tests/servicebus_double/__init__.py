"""Loopback Azure Service Bus double (see double.py)."""
from .double import ServiceBusDouble

__all__ = ["ServiceBusDouble"]
