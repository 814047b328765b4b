"""The words of a photo's folder path and file name ("2019 Lisbon/tram_28-at-night.jpg" -> "2019
Lisbon", "tram 28 at night"), with what cameras and phones name files left out: IMG_2041,
DSC_0001, PXL_20230115_093012345, a bare number, a hex hash or a UUID say nothing about a photo.
"""
from __future__ import annotations

import re
from functools import lru_cache

MAX_CHARS = 300  # of the words of one name (folder or file); longer names are cut

# Whole names (without extension) that cameras, phones and apps generate.
_CAMERA_NAME = re.compile(r"""(?ix)^(
      ((img|image|dsc[nf]?|_?dsc|_mg|mvimg|vid|mov|pxl|pict?|dji|gopr|gp|dcim|p|r|cimg|sam|wp|photo|pano|dscf|imag|
        snapshot|burst|sdc|cap|mvi|vlcsnap|fb|received|hdr|edit)[\s_-]*)?
      \d{3,}([\s_.-]+\d+)*([\s_.-]+([a-z]{1,3}\d*|burst\d+|cover|portrait|night|edited|hdr|pano|copy|mp))*(\s*\(\d+\))?   # (1): a copy
    | [0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}          # a UUID
    | \d+_[0-9a-f]{6,}(_[a-z])?                                                 # Flickr: 2654514044_a70a6e2c21
    | [0-9a-f]{16,}                                                             # a digest
)$""")
# A date in a name keeps its year ("2019-06-12 Lisbon" -> "2019 Lisbon"); a time of day goes.
_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)[-_.]?[01]\d[-_.]?[0-3]\d(?!\d)")
_YEAR = re.compile(r"(?:19|20)\d\d")
_TIME = re.compile(r"(?<!\d)[0-2]?\d[.:h][0-5]\d(?:[.:][0-5]\d)?(?!\d)")
# Tokens of a name that carry nothing: camera prefixes, long digit runs (counters, timestamps), hex ids.
_NOISE = re.compile(r"(?i)^(img|dsc[nf]?|pxl|mvimg|vid|dji|gopr|dcim|jpe?g|png|heic|tiff?|raw|copy|edited|\d{5,}|"
                    r"(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,})$")
_SPLIT = re.compile(r"[\W_]+", re.UNICODE)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
_EXT = re.compile(r"\.[A-Za-z0-9]{1,5}$")


def is_camera_name(stem: str) -> bool:
    """Whether a file name (without extension) is one a camera or app made up."""
    return bool(_CAMERA_NAME.match(stem.strip()))


@lru_cache(maxsize=65_536)  # a folder's name is met once per photo in it
def name_words(name: str, folder: bool = False) -> str:
    """The meaningful words of one file name (or folder name), space-separated ("" for a
    camera-style name)."""
    stem = name.strip() if folder else _EXT.sub("", name.strip())
    dated = _TIME.sub(" ", _DATE.sub(r"\1", stem[: MAX_CHARS * 2])).strip()
    if _YEAR.fullmatch(dated):  # a folder "2019-06-12" keeps its year
        return dated
    if is_camera_name(stem):
        return ""
    words = []
    for token in _SPLIT.split(dated):
        if _NOISE.match(token):
            continue
        for part in _CAMEL.split(token):
            if part and not _NOISE.match(part) and (len(part) > 1 or part.isdigit()):
                words.append(part)
    return " ".join(words)[:MAX_CHARS].strip()


def path_words(relpath: str) -> tuple[str, str]:
    """(folder words, file words) of a `/`-separated path relative to the ingested root: the words
    of each folder joined by " / ", and those of the file name."""
    parts = relpath.split("/")
    folders = [w for w in (name_words(p, folder=True) for p in parts[:-1]) if w]
    return " / ".join(folders)[:MAX_CHARS], name_words(parts[-1])
