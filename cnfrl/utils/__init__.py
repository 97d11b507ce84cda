"""Small utilities every layer uses: atomic file writes, arrays on disk, progress bars, hardware, cache paths."""
