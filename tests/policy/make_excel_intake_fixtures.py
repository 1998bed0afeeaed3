#!/usr/bin/python3
"""Writes the workbooks of the Excel-intake tests (issue 21 item 4) into argv[1].

- encrypted.xlsx: a password-protected workbook as Excel saves it, an OLE
  compound file ([MS-CFB]) with EncryptionInfo and EncryptedPackage streams;
- old.xls: an Excel 97-2003 workbook, a compound file with a Workbook stream;
- old_book.xls: an Excel 5 workbook (Book stream);
- other.doc: a compound file with neither (an old Word file, say);
- cfb_cycle.xlsx, cfb_truncated.xlsx, cfb_huge_fat.xlsx: malformed compound
  files (a directory chain that loops, a file cut after its header, a header
  claiming millions of FAT sectors);
- title_row.xlsx: a title and a blank row above the header;
- other_sheet.xlsx: notes on the first sheet, the list on the second;
- empty_first.xlsx: an empty first sheet, the list on the second;
- misspelt.xlsx: "Rijksregister nr." for Rijksregisternummer and an extra
  "Opmerking" column.

The compound files are built here byte by byte (no Office, no LibreOffice:
the readers only look at their directory). All people are invented; national
numbers are generated with valid check digits. Run with Debian's python3
(python3-openpyxl).
"""
import datetime
import os
import struct
import sys

import openpyxl

FREE, END, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def nrn(yymmdd, serial):
    base = int(yymmdd + "%03d" % serial)
    return yymmdd + "%03d" % serial + "%02d" % (97 - base % 97)


HEADER = ["Naam", "Voornaam", "Rijksregisternummer", "Status dossier", "Ontbrekende documenten",
          "Datum uitnodigingsbrief", "Datum herinnering"]


def people(n):
    for i in range(n):
        yield ["Testnaam%d" % i, "Voornaam%d" % i, nrn("850730", i + 1), "onvolledig", "attest",
               datetime.date(2024, 8, 1), datetime.date(2024, 8, 31)]


def dir_entry(name, kind, child=NOSTREAM, right=NOSTREAM, start=END, size=0):
    encoded = (name + "\0").encode("utf-16-le")
    return (encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1) +
            struct.pack("<III", NOSTREAM, right, child) + b"\0" * 16 + b"\0" * 4 + b"\0" * 16 +
            struct.pack("<IQ", start, size))


def compound_file(streams, cycle=False, fat_count=1):
    """A version-3 compound file: sector 0 the FAT, sector 1 the directory,
    then each stream (at least 4096 bytes, so none lives in a mini stream)."""
    assert len(streams) <= 3
    fat = [FATSECT, 1 if cycle else END]
    entries = [dir_entry("Root Entry", 5, child=1 if streams else NOSTREAM)]
    data = b""
    for i, (name, body) in enumerate(streams):
        body = body.ljust(4096, b"\0")
        body += b"\0" * (-len(body) % 512)
        first = 2 + len(data) // 512
        count = len(body) // 512
        fat += [first + k + 1 for k in range(count - 1)] + [END]
        right = i + 2 if i + 1 < len(streams) else NOSTREAM
        entries.append(dir_entry(name, 2, right=right, start=first, size=len(body)))
        data += body
    while len(entries) < 4:
        entries.append(b"\0" * 64 + struct.pack("<HBB", 0, 0, 0) + struct.pack("<III", NOSTREAM, NOSTREAM, NOSTREAM) +
                       b"\0" * 36 + struct.pack("<IQ", 0, 0))
    fat_sector = b"".join(struct.pack("<I", x) for x in fat).ljust(512, b"\xff")
    header = (bytes([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) + b"\0" * 16 +
              struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6 +
              struct.pack("<IIIIIIIII", 0, fat_count, 1, 0, 4096, END, 0, END, 0) +
              struct.pack("<I", 0) + struct.pack("<I", FREE) * 108)
    assert len(header) == 512
    return header + fat_sector + b"".join(entries) + data


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def write_compound_files(out):
    write(os.path.join(out, "encrypted.xlsx"),
          compound_file([("EncryptionInfo", b"\x04\x00\x04\x00\x40\x00\x00\x00"),
                         ("EncryptedPackage", os.urandom(5000))]))
    write(os.path.join(out, "old.xls"),
          compound_file([("Workbook", b"\x09\x08\x10\x00"), ("\x05SummaryInformation", b"")]))
    write(os.path.join(out, "old_book.xls"), compound_file([("Book", b"\x09\x08")]))
    write(os.path.join(out, "other.doc"), compound_file([("WordDocument", b"\xec\xa5")]))
    write(os.path.join(out, "cfb_cycle.xlsx"), compound_file([("Data", b"x")], cycle=True))
    write(os.path.join(out, "cfb_truncated.xlsx"), compound_file([("EncryptedPackage", b"x")])[:520])
    write(os.path.join(out, "cfb_huge_fat.xlsx"), compound_file([("Workbook", b"x")], fat_count=50000000))


def write_workbooks(out):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Lijst"
    ws.append(["Lijst CIR-kandidaten zonder bevestiging"])
    ws.append([])
    ws.append(HEADER)
    for row in people(3):
        ws.append(row)
    wb.save(os.path.join(out, "title_row.xlsx"))

    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "Uitleg"
    notes.append(["Deze map bevat de lijst van september"])
    notes.append(["Bijgewerkt door de dienst"])
    data = wb.create_sheet("Kandidaten")
    data.append(HEADER)
    for row in people(2):
        data.append(row)
    wb.save(os.path.join(out, "other_sheet.xlsx"))

    wb = openpyxl.Workbook()
    wb.active.title = "Blad1"
    data = wb.create_sheet("Kandidaten")
    data.append(HEADER)
    for row in people(2):
        data.append(row)
    wb.save(os.path.join(out, "empty_first.xlsx"))

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Naam", "Voornaam", "Rijksregister nr.", "Status dossier", "Opmerking"])
    for row in people(2):
        ws.append(row[:4] + ["bellen"])
    wb.save(os.path.join(out, "misspelt.xlsx"))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    write_compound_files(out)
    write_workbooks(out)


if __name__ == "__main__":
    main()
