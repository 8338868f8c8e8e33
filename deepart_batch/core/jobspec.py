"""The job spec: everything a worker needs to render one job, as one typed contract.

Built once by the daemon's planner, stored in the journal as JSON (`to_dict`), and read back
with `from_dict` by the service, the executors, the workers and the gallery. Model: rq's
`Job.to_dict`/`restore`. Facts decided at planning travel here so nobody works them out
again: the photo's size and hash, the look size of a print, each style's hash.

Schema 1 is the untyped dict the journal held before this module (no `schema` key, no
photo hash, no look size); `from_dict` still reads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .params import RenderParams
from .regions import RegionSpec

SCHEMA = 2

# A look size not decided at planning (a schema 1 spec): the engine decides it.
UNDECIDED = "undecided"


@dataclass(frozen=True)
class StyleRef:
    """One style image of a job, with its blend weight and the hash the job key used."""
    name: str | None
    path: str
    weight: float
    sha256: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> "StyleRef":
        return cls(d.get("name"), d["path"], d.get("weight", 1.0), d.get("sha256", ""))


@dataclass(frozen=True)
class JobSpec:
    content: str                    # the photo's file in work/ (internal name)
    input: str                      # the inbox path people gave it
    styles: tuple[StyleRef, ...]
    params: RenderParams            # effective for this output
    output_format: str              # Pillow's name: JPEG, PNG, WEBP
    quality: int = 92
    max_input_pixels: int = 50_000_000
    content_size: tuple[int, int] | None = None   # (width, height), probed at planning
    content_sha256: str = ""        # the claimed photo's hash (intake)
    look_size: int | None | str = UNDECIDED  # engine/budget.effective_look_size, or None
    style_key: str = ""             # the styles' short hashes: a worker's Gram cache affinity
    # A print from an approved preview: the approved image's claimed copy and its
    # sha256; the render starts from it and runs only the stages above look_size (the
    # preview's size). approved_from: what the print's report says it came from.
    init_from: str = ""
    init_sha256: str = ""
    approved_from: dict | None = None
    # Regions (core/regions.py): the mask's claimed copy and its sha256, and what the rule
    # maps its values to (over the defaults white = this output's styles, black = kept).
    # No mask: the output renders whole.
    mask: str = ""
    mask_sha256: str = ""
    regions: tuple[RegionSpec, ...] = ()
    mask_name: str = ""             # the mask as people name it (masks/spring/shoe.png)
    schema: int = SCHEMA
    extra: dict = field(default_factory=dict)    # keys of a newer schema, kept as they were

    @property
    def photo_long_side(self) -> int | None:
        return max(self.content_size) if self.content_size else None

    @property
    def look_decided(self) -> bool:
        return self.look_size != UNDECIDED

    def with_files(self, content: str, style_paths: list[str], mask: str | None = None,
                   init_from: str | None = None) -> "JobSpec":
        """The same job reading its photo, styles (mask, approved preview) from other files
        (a Ray actor's copies)."""
        styles = tuple(replace(s, path=p) for s, p in zip(self.styles, style_paths))
        return replace(self, content=content, styles=styles,
                       mask=self.mask if mask is None else mask,
                       init_from=self.init_from if init_from is None else init_from)

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        d["params"] = self.params.to_dict()
        d["styles"] = [asdict(s) for s in self.styles]
        d["content_size"] = list(self.content_size) if self.content_size else None
        d["regions"] = [r.to_dict() for r in self.regions]
        return {**extra, **d}

    @classmethod
    def from_dict(cls, d: dict) -> "JobSpec":
        """Any stored version: schema 1 (the old dict) or this one. Parameters this version
        does not know raise ParamsError (the journal reads such a row with spec None)."""
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        size = d.get("content_size")
        return cls(
            content=d["content"], input=d.get("input") or d["content"],
            styles=tuple(StyleRef.from_dict(s) for s in d.get("styles") or ()),
            params=RenderParams.from_dict(dict(d.get("params") or {})),
            output_format=d.get("output_format", "JPEG"),
            quality=d.get("quality", 92),
            max_input_pixels=d.get("max_input_pixels", 50_000_000),
            content_size=(int(size[0]), int(size[1])) if size else None,
            content_sha256=d.get("content_sha256", ""),
            look_size=d.get("look_size", UNDECIDED) if "schema" in d else UNDECIDED,
            style_key=d.get("style_key", ""), schema=d.get("schema", 1),
            init_from=d.get("init_from", ""), init_sha256=d.get("init_sha256", ""),
            approved_from=d.get("approved_from"),
            mask=d.get("mask", ""), mask_sha256=d.get("mask_sha256", ""),
            mask_name=d.get("mask_name", ""),
            regions=tuple(RegionSpec.from_dict(r) for r in d.get("regions") or ()),
            extra={k: v for k, v in d.items() if k not in known})

    @classmethod
    def of(cls, spec: "JobSpec | dict") -> "JobSpec":
        """A JobSpec from either form: the journal hands back the stored dict."""
        return spec if isinstance(spec, cls) else cls.from_dict(spec)


def style_key(styles) -> str:
    """What a worker's Gram cache is keyed by, across jobs: the styles' short hashes."""
    return "|".join(sorted(s.sha256[:16] for s in styles))
