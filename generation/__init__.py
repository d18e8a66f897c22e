"""ECD data synthesis: seeds -> evolve -> respond -> pair -> verify -> decontaminate -> export."""
