#!/usr/bin/python3
"""Generates benchmark lists for the CIR protocol: invented people, valid national numbers.

usage: gen_lists.py OUTDIR CSV_ROWS XLSX_ROWS   (Debian's python3 with python3-openpyxl)
The XLSX is written in openpyxl's write-only mode (inline strings, one sheet "Lijst"):
about 55 s for 1,000,000 rows of each.
"""
import datetime
import os
import random
import sys


def nrn(i):
    yy = 40 + i % 60
    mm = 1 + (i // 60) % 12
    dd = 1 + (i // 720) % 28
    serial = 1 + (i // 20160) % 997
    base = int("%02d%02d%02d%03d" % (yy, mm, dd, serial))
    return "%09d%02d" % (base, 97 - base % 97)


STATUS = ["onvolledig", "niet bevestigd", "herinnering verstuurd", "wacht op documenten"]
DOCS = ["attest OCMW", "bewijs inkomen; kopie identiteitskaart", "", "huurcontract, attest van goed gedrag en zeden"]


def row(i, rnd):
    return ["Achternaam%06d" % rnd.randrange(10**6), "Voornaam%05d" % rnd.randrange(10**5), nrn(i),
            STATUS[i % 4], DOCS[i % 4], "%02d/08/2024" % (1 + i % 28), "2024-09-%02d" % (1 + i % 15)]


def main():
    out, csv_rows, xlsx_rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(1)
    header = ["Naam", "Voornaam", "Rijksregisternummer", "Status dossier", "Ontbrekende documenten",
              "Datum uitnodigingsbrief", "Datum herinnering"]
    with open(os.path.join(out, "cir.csv"), "w", encoding="utf-8", newline="") as f:
        f.write(";".join(header) + "\r\n")
        for i in range(csv_rows):
            cells = row(i, rnd)
            cells[4] = '"' + cells[4] + '"' if ";" in cells[4] else cells[4]
            f.write(";".join(cells) + "\r\n")
    import openpyxl
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Lijst")
    ws.append(header)
    for i in range(xlsx_rows):
        r = row(i, rnd)
        r[5] = datetime.date(2024, 8, 1 + i % 28)
        ws.append(r)
    wb.save(os.path.join(out, "cir.xlsx"))


if __name__ == "__main__":
    main()
