#!/usr/bin/env python3
"""Writes a PDF like a scanner's: PAGES pages, each one image of about IMAGE_KB kilobytes (random,
so incompressible) and a line of text. Usage: gen_pdf.py PAGES IMAGE_KB OUT.pdf"""
import os
import sys


def main():
    pages, image_kb, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    objects = {}  # number -> bytes of the object body
    catalog, tree, font = 1, 2, 3
    kids = []
    number = 4
    side = max(1, int((image_kb * 1024 / 3) ** 0.5))
    for n in range(1, pages + 1):
        page, contents, image = number, number + 1, number + 2
        number += 3
        pixels = os.urandom(side * side * 3)
        objects[image] = (
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
            b"/BitsPerComponent 8 /Length %d >>\nstream\n" % (side, side, len(pixels))
            + pixels + b"\nendstream"
        )
        text = b"q 500 0 0 700 50 80 cm /Im1 Do Q BT /F1 18 Tf 50 800 Td (Scanned page %d) Tj ET" % n
        objects[contents] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text)
        objects[page] = (
            b"<< /Type /Page /Parent 2 0 R /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> /XObject << /Im1 %d 0 R >> >> >>" % (contents, image)
        )
        kids.append(b"%d 0 R" % page)
    objects[catalog] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[tree] = b"<< /Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 595 842] >>" % (
        b" ".join(kids), pages)
    objects[font] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    with open(out, "wb") as f:
        f.write(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
        offsets = {}
        for num in sorted(objects):
            offsets[num] = f.tell()
            f.write(b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n")
        xref = f.tell()
        f.write(b"xref\n0 %d\n0000000000 65535 f \n" % (number))
        for num in range(1, number):
            f.write(b"%010d 00000 n \n" % offsets[num])
        f.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (number, xref))


if __name__ == "__main__":
    main()
