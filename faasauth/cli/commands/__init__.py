"""One module per command: click parsing only, the work lives in plain functions."""
