"""Fax pages from a PDF document: each page rendered by PDFium (PyPI ``pypdfium2``) to the fax's line of 1,728
pixels at the fine vertical resolution (204 x 196 dpi: the page's width scaled to the line, an emulator choice that
fits A4 and Letter alike), made black and white at mid-grey, and written with Pillow as one TIFF-F file (ITU-T T.4
one-dimensional coding, min-is-white, as fax machines and libspandsp read them) that the fax machine sends.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PageError", "pdf_to_tiff"]

LINE = 1728  # pixels of a fax line (ITU-T T.4, A4/Letter width)
DPI = (204, 196)  # fine mode
_PHOTOMETRIC = 262  # TIFF tag: 0 = min-is-white


class PageError(ValueError):
    """A document that cannot be made into fax pages (not a PDF, no page, damaged)."""


def pdf_to_tiff(pdf: Path, tiff: Path) -> int:
    """Render every page of `pdf` into the TIFF-F file `tiff`; the number of pages. :class:`PageError` on a bad PDF."""
    # only a PDF sent by fax needs PDFium and Pillow (about 60 ms of imports): not loaded at a unit's start
    import pypdfium2 as pdfium
    from PIL import Image, TiffImagePlugin

    try:
        doc = pdfium.PdfDocument(str(pdf))
    except (pdfium.PdfiumError, OSError) as exc:
        raise PageError(f"{pdf.name}: not a readable PDF ({exc})") from None
    pages: list[Image.Image] = []
    try:
        for page in doc:
            width = page.get_width()
            grey = page.render(scale=LINE / width).to_pil().convert("L")
            grey = grey.resize((LINE, max(1, round(grey.height * DPI[1] / DPI[0]))))
            pages.append(grey.point(lambda v: 255 if v > 128 else 0).convert("1", dither=Image.Dither.NONE))
    finally:
        doc.close()
    if not pages:
        raise PageError(f"{pdf.name}: no page")
    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[_PHOTOMETRIC] = 0
    pages[0].save(tiff, compression="group3", dpi=DPI, tiffinfo=info, save_all=True, append_images=pages[1:])
    return len(pages)
