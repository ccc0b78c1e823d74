"""Ventros agents: the Python side of Ventros AI, serving AgentService over gRPC.

The Rust side decides *when* an agent runs; this package decides *what* to say. Agents read a
contact's memories back through MemoryService (served by Rust) and never write CRM tables.
"""
