"""index.html: every src/href points at an existing file, text is escaped, metrics are shown."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

from egohmr.outputs.frame_record import FrameRecord
from egohmr.outputs.html_report import write_html_report
from egohmr.outputs.writer import write_frame_outputs, write_png
from tests.outputs.helpers import make_record


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for key, value in attrs:
            if key in ("src", "href") and value is not None:
                self.links.append(value)
            if key == "id":
                self.ids.add(value)


def _make_folder(tmp_path: Path) -> Path:
    out = tmp_path / "out dir"
    rec = make_record(num_samples=2)
    kwargs = {k: getattr(rec, k) for k in rec.__dataclass_fields__}
    kwargs["name"] = "rec<1>/PV/a&b.jpg"
    kwargs["metrics"] = {"mpjpe_mm": 51.0, "<b>bold</b>": 1.0}
    for i, r in enumerate((FrameRecord(**kwargs), make_record(num_samples=2, with_gt=False, name="x.jpg"))):
        write_frame_outputs(r, out, stem=f"{i:04d}_f", backend="numpy", scene_view_size=(96, 54))
    doc = {"format_version": 1, "metrics": {"mpjpe_mm": 48.5, "collision_ratio": None}, "settings": {"mode": "x"}}
    (out / "metrics.json").write_text(json.dumps(doc))
    (out / "metrics.md").write_text("# metrics\n")
    write_png(out / "error_vs_truncation.png", make_record().image)
    return out


def test_html_links_exist_and_text_is_escaped(tmp_path):
    out = _make_folder(tmp_path)
    index = write_html_report(out, title="Demo <run>")
    text = index.read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(text)
    files = []
    for link in parser.links:
        url = urlparse(link)
        assert url.scheme == "" and url.netloc == "", f"external link {link}"
        if link.startswith("#"):
            assert link[1:] in parser.ids, link
            continue
        target = out / unquote(url.path)
        assert target.is_file(), f"{link} -> {target} missing"
        files.append(target.name)
    for name in (
        "0000_f_overlay.png",
        "0000_f_scene.png",
        "0000_f.glb",
        "0001_f.glb",
        "metrics.md",
        "error_vs_truncation.png",
    ):
        assert name in files, name
    assert "script" not in parser.tags and "link" not in parser.tags  # no external CSS/JS
    assert "&lt;b&gt;bold&lt;/b&gt;" in text and "<b>bold</b>" not in text
    assert "rec&lt;1&gt;/PV/a&amp;b.jpg" in text and "Demo &lt;run&gt;" in text
    assert "48.50" in text and "51.00" in text


def test_html_without_metrics_or_frames(tmp_path):
    index = write_html_report(tmp_path)
    text = index.read_text(encoding="utf-8")
    assert "No metrics.json" in text and "Frames (0)" in text
