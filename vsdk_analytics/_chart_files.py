"""Chart files: the optional chart libraries, and Vega-Lite specs written as HTML, PNG, SVG, JSON.

`vsdk_analytics.charts` builds the charts; this module turns their specs into files
with ``vl-convert`` (no browser, no network) and imports the optional libraries with
an error that names the extra to install. HTML pages embed the Vega, Vega-Lite and
vega-embed JavaScript (vl-convert's bundle), so they draw without a network; with
``cdn=True`` they load it from the jsDelivr CDN instead.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from ._errors import ConfigurationError

__all__ = ["FORMATS", "SpecWriter", "altair_module", "check_formats"]

FORMATS: Final = ("html", "png", "svg", "json")
"""The file formats a chart can be written in."""

_PNG_SCALE: Final = 2.0
_MISSING: Final = (
    "vsdk_analytics.charts needs Altair and vl-convert, the optional 'charts' extra: "
    "pip install 'vsdk-analytics[charts]'"
)


def altair_module() -> Any:
    """The altair module, or an ImportError that names the extra to install."""
    try:
        import altair  # noqa: PLC0415 - optional dependency, imported on first use
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    return altair


def _vl_convert() -> Any:
    """The vl_convert module (renders PNG, SVG and HTML offline), or a helpful ImportError."""
    try:
        import vl_convert  # noqa: PLC0415 - optional dependency, imported on first use
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    return vl_convert


def check_formats(formats: object) -> tuple[str, ...]:
    """The chosen formats, lowercased and deduplicated; `ConfigurationError` for others."""
    chosen = (formats,) if isinstance(formats, str) else formats
    if not isinstance(chosen, Iterable):
        raise ConfigurationError(f"formats= takes names such as ('html', 'png'), got {formats!r}")
    result = tuple(str(f).lower().lstrip(".") for f in chosen)
    unknown = sorted(set(result) - set(FORMATS))
    if unknown or not result:
        raise ConfigurationError(
            f"formats= must name one or more of {', '.join(FORMATS)}, got {formats!r}"
        )
    return tuple(dict.fromkeys(result))


def _page_title(spec: Mapping[str, Any]) -> str:
    title = spec.get("title")
    text = title.get("text") if isinstance(title, Mapping) else title
    return html.escape(str(text)) if text else "Chart"


class SpecWriter:
    """Writes Vega-Lite specs to files with vl-convert, in the version Altair targets.

    Parameters
    ----------
    cdn
        HTML pages load the Vega JavaScript from the jsDelivr CDN (small files that draw
        only online) instead of embedding it (about 900 kB a page, drawn offline).
    """

    def __init__(self, *, cdn: bool = False) -> None:
        alt = altair_module()
        self._vlc = _vl_convert()
        major_minor = ".".join(str(alt.VEGALITE_VERSION).lstrip("v").split(".")[:2])
        supported = self._vlc.get_vegalite_versions()
        self._version = major_minor if major_minor in supported else None
        self._bundle = not cdn

    def write(self, spec: Mapping[str, Any], path: Path, fmt: str) -> None:
        """Write ``spec`` to ``path`` as ``fmt`` (one of `FORMATS`)."""
        vlc, version = self._vlc, self._version
        if fmt == "png":
            path.write_bytes(vlc.vegalite_to_png(spec, vl_version=version, scale=_PNG_SCALE))
        elif fmt == "svg":
            path.write_text(vlc.vegalite_to_svg(spec, vl_version=version), encoding="utf-8")
        elif fmt == "html":
            page = vlc.vegalite_to_html(spec, vl_version=version, bundle=self._bundle)
            page = page.replace("<title>Chart</title>", f"<title>{_page_title(spec)}</title>", 1)
            path.write_text(page, encoding="utf-8")
        else:
            path.write_text(json.dumps(spec, indent=2, ensure_ascii=False), encoding="utf-8")
