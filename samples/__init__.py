"""Sample articles shipped with newsbot (the seed article is the default demo library)."""
