"""Excel adapters: value conversion, result caching, the xlwings formula modules."""
