"""The offline store: append-only Delta history and latest tables of feature groups, their write path, materialisation and table maintenance."""
