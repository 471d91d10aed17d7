"""volmig_cinder: an out-of-tree Cinder volume driver over a volmigd backend (driver.py)."""
