"""Where tables live and how they are read: the store's layout, Delta helpers (commits, Spark Connect), delta-rs reads and object-storage settings."""
