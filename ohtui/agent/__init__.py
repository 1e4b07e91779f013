"""Agent side: controllers, agents and the local shell runtime they act through."""
