"""Discovery of specs: every FeatureGroupSpec and SourceSpec defined at module level in a package."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from featurestore.errors import SpecError
from featurestore.spec import FeatureGroupSpec, SourceSpec
from featurestore.training.sets import TrainingSetSpec


@dataclass(frozen=True)
class Registry:
    """The specs of a project, by name."""

    sources: dict[str, SourceSpec]
    groups: dict[str, FeatureGroupSpec]
    training_sets: dict[str, TrainingSetSpec]

    def group(self, name: str) -> FeatureGroupSpec:
        if name not in self.groups:
            raise SpecError(f"unknown feature group {name!r}; known: {sorted(self.groups)}")
        return self.groups[name]

    def training_set(self, name: str) -> TrainingSetSpec:
        if name not in self.training_sets:
            raise SpecError(f"unknown training set {name!r}; known: {sorted(self.training_sets)}")
        return self.training_sets[name]

    def source(self, name: str) -> SourceSpec:
        if name not in self.sources:
            raise SpecError(f"unknown source {name!r}; known: {sorted(self.sources)}")
        return self.sources[name]


def discover(package: str) -> Registry:
    """Import every module of `package` and collect the specs it defines; names must be unique."""
    root = importlib.import_module(package)
    modules = [root] + [importlib.import_module(f"{package}.{info.name}")
                        for info in pkgutil.walk_packages(root.__path__) if not info.name.startswith("_")]
    found: dict[type, dict] = {SourceSpec: {}, FeatureGroupSpec: {}, TrainingSetSpec: {}}
    for module in modules:
        for value in vars(module).values():
            target = found.get(type(value))
            if target is None:
                continue
            if value.name in target and target[value.name] is not value:
                raise SpecError(f"two specs are named {value.name!r} (one in {module.__name__})")
            target[value.name] = value
    sources, groups, training_sets = (dict(sorted(found[kind].items()))
                                      for kind in (SourceSpec, FeatureGroupSpec, TrainingSetSpec))
    for group in groups.values():
        unknown = [s for s in group.sources if s not in sources]
        if unknown:
            raise SpecError(f"feature group {group.name!r}: unknown source(s) {unknown}; known: {sorted(sources)}")
    registry = Registry(sources=sources, groups=groups, training_sets=training_sets)
    for training_set in training_sets.values():
        training_set.validate_against(registry)
    return registry
