#!/usr/bin/python3
"""Writes the XLSX fixtures of the policy tests into the directory given as argv[1].

All people are invented; national numbers are generated with valid check digits.
Run with Debian's /usr/bin/python3 (python3-openpyxl).
"""
import datetime
import os
import sys
import zipfile

import openpyxl


def nrn(yymmdd, serial, born_2000=False):
    base = int(yymmdd + "%03d" % serial)
    check = 97 - ((2000000000 + base) if born_2000 else base) % 97
    return yymmdd + "%03d" % serial + "%02d" % check


HEADER = ["Naam", "Voornaam", "Rijksregisternummer", "Status dossier", "Ontbrekende documenten",
          "Datum uitnodigingsbrief", "Datum herinnering"]


def people(n):
    for i in range(n):
        yield ["Testnaam%d" % i, "Voornaam%d" % i, nrn("850730", (i % 997) + 1), "onvolledig",
               "attest OCMW", datetime.date(2024, 8, 1), datetime.date(2024, 8, 31)]


def write_valid(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Lijst"
    ws.append(HEADER)
    for row in people(5):
        ws.append(row)
    # A national number stored as a number that lost its leading zero
    # (born 2005: 05...), and a date-time cell at midnight.
    ws.append(["Nul", "Leading", int(nrn("050101", 7, True)), "actief", None,
               datetime.datetime(2024, 8, 2, 0, 0), None])
    for col in (6, 7):
        for cell in ws.iter_cols(min_col=col, max_col=col, min_row=2):
            for c in cell:
                c.number_format = "dd/mm/yyyy"
    wb.save(path)


def write_two_sheets(path):
    wb = openpyxl.Workbook()
    info = wb.active
    info.title = "Info"
    info.append(["Dit blad bevat uitleg"])
    ws = wb.create_sheet("Lijst")
    ws.append(HEADER)
    for row in people(3):
        ws.append(row)
    wb.save(path)


def write_invalid(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER + ["Telefoon"])
    ws.append(["Testnaam", "Voornaam", "85073003300", "onvolledig", None, "31/02/2024", None, "x"])
    ws.append([None, "Voornaam", nrn("850730", 5), None, None, None, None, None])
    wb.save(path)


def write_markers(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER + ["MARKERHEADERQX"])
    ws.append(["MARKERLASTQX", "MARKERFIRSTQX", "MARKERNRNQX", "MARKERSTATUSQX", "MARKERDOCSQX",
               "MARKERDATEQX", "MARKERREMQX", "MARKEREXTRAQX"])
    wb.save(path)


def write_raw(path, sheet_xml, shared=None, styles=None, workbook_pr="", compression=zipfile.ZIP_DEFLATED):
    """A hand-made workbook, to cover what openpyxl does not write."""
    with zipfile.ZipFile(path, "w", compression) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="xml" ContentType="application/xml"/></Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
                   '</Relationships>')
        z.writestr("xl/workbook.xml",
                   '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                   'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">' + workbook_pr +
                   '<sheets><sheet name="Blad1" sheetId="1" r:id="rId1"/></sheets></workbook>')
        rels = ('<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>')
        if shared is not None:
            rels += '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
            z.writestr("xl/sharedStrings.xml", shared)
        if styles is not None:
            rels += '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
            z.writestr("xl/styles.xml", styles)
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
                   rels + '</Relationships>')
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)


SHEET_HEAD = '<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
SHEET_TAIL = '</sheetData></worksheet>'


def write_inline(path):
    styles = ('<?xml version="1.0"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
              '<numFmts count="1"><numFmt numFmtId="164" formatCode="[$-813]dd\\.mm\\.yyyy;@"/></numFmts>'
              '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="14"/></cellXfs></styleSheet>')
    shared = ('<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="2" uniqueCount="2">'
              '<si><t>Naam</t></si><si><r><t>Ja</t></r><r><t>nssen</t></r><rPh><t>x</t></rPh></si></sst>')
    sheet = (SHEET_HEAD +
             '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>Voornaam</t></is></c>'
             '<c r="C1" t="inlineStr"><is><t>Datum</t></is></c><c r="D1" t="inlineStr"><is><t>Vlag</t></is></c>'
             '<c r="E1" t="inlineStr"><is><t>Getal</t></is></c><c r="F1" t="inlineStr"><is><t>Builtin</t></is></c></row>'
             '<row r="3"><c r="A3" t="s"><v>1</v></c><c r="B3" t="inlineStr"><is><t>Piet &amp; co</t></is></c>'
             '<c r="C3" s="1"><v>45562</v></c><c r="D3" t="b"><v>1</v></c><c r="E3"><v>8.5073003328E10</v></c>'
             '<c r="F3" s="2"><v>45562.5</v></c></row>'
             '<row r="4"><c r="A4" t="s"><v>1</v></c><c r="C4" s="1"><v>60</v></c><c r="E4"><v>1.5</v></c></row>'
             + SHEET_TAIL)
    write_raw(path, sheet, shared=shared, styles=styles)


def write_bomb(path):
    # 40 MiB of whitespace inside the sheet: compresses about 1000:1.
    sheet = SHEET_HEAD + '<row r="1"><c r="A1" t="inlineStr"><is><t>Naam</t></is></c></row>' + " " * (40 << 20) + SHEET_TAIL
    write_raw(path, sheet)


def write_wide(path):
    cells = "".join('<c r="%s1" t="inlineStr"><is><t>k</t></is></c>' % col for col in ("A", "B", "ZZ"))
    write_raw(path, SHEET_HEAD + '<row r="1">' + cells + '</row>' + SHEET_TAIL)


DATE_STYLES = ('<?xml version="1.0"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs></styleSheet>')
BIG_ROWS = 200000


def big_row(i):
    """Data row i (1-based) of big.xlsx; list_reader_test.cc checks every value."""
    r = i + 1
    return ('<row r="%d"><c r="A%d" t="inlineStr"><is><t>Testnaam%d</t></is></c><c r="B%d" t="s"><v>%d</v></c>'
            '<c r="C%d"><v>%d</v></c><c r="D%d" s="1"><v>45562</v></c>'
            '<c r="E%d" t="inlineStr"><is><t>Piet &amp; co %d</t></is></c><c r="F%d" t="b"><v>%d</v></c></row>'
            % (r, r, i, r, i % 1000, r, i * 7, r, r, i, r, i % 2))


def write_big(path):
    # 200,000 rows, about 54 MB of sheet XML: a DOM of it takes hundreds of
    # MiB, a streamed read a few. Rows cross every 64 KiB read chunk.
    shared = ('<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' +
              "".join("<si><t>Voornaam%d</t></si>" % k for k in range(1000)) + "</sst>")
    header = ('<row r="1">' + "".join('<c r="%s1" t="inlineStr"><is><t>%s</t></is></c>' % (col, name) for col, name in
                                      zip("ABCDEF", ["Naam", "Voornaam", "Getal", "Datum", "Tekst", "Vlag"])) + "</row>")
    sheet = SHEET_HEAD + header + "".join(big_row(i) for i in range(1, BIG_ROWS + 1)) + SHEET_TAIL
    write_raw(path, sheet, shared=shared, styles=DATE_STYLES)


def write_doctype_bomb(path):
    # "Billion laughs": refused at the DOCTYPE, nothing is expanded.
    entities = '<!ENTITY lol "lol">' + "".join(
        '<!ENTITY lol%d "%s">' % (k, ("&lol%d;" % (k - 1) if k > 1 else "&lol;") * 10) for k in range(1, 10))
    sheet = ('<?xml version="1.0"?><!DOCTYPE worksheet [' + entities + ']>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>' + SHEET_TAIL)
    write_raw(path, sheet)


def padded_rows(xml, r, upto):
    """Appends rows "Pad<r>" while the sheet XML stays under `upto` bytes."""
    while True:
        row = '<row r="%d"><c r="A%d" t="inlineStr"><is><t>Pad%d</t></is></c></row>' % (r, r, r)
        if len(xml) + len(row) > upto:
            return xml, r
        xml += row
        r += 1


FIRST_ROW = '<row r="1"><c r="A1" t="inlineStr"><is><t>Naam</t></is></c></row>'


def write_chunk_split(path):
    # An entity and a character reference that cross the first 64 KiB read
    # chunk of the sheet XML; then padding rows, one of whose tags crosses the
    # second boundary.
    xml, r = padded_rows(SHEET_HEAD + FIRST_ROW, 2, 65536 - 60)
    xml += '<row r="%d"><c r="A%d" t="inlineStr"><is><t>' % (r, r)
    xml += "x" * (65536 - 2 - len(xml)) + "&amp;&#xE9;</t></is></c></row>"  # "&amp;" at bytes 65534..65538
    xml, r = padded_rows(xml, r + 1, 140000)
    write_raw(path, xml + SHEET_TAIL)


def write_bad_at_boundary(path):
    # A malformed tag (an unquoted attribute value) across the first 64 KiB
    # read chunk of the sheet XML, after rows that read well.
    xml, r = padded_rows(SHEET_HEAD + FIRST_ROW, 2, 65536 - 200)
    xml += '<row r="%d"><c r="A%d" t="inlineStr"><is><t>' % (r, r)
    bad = '</t></is></c></row><row r="%d"><c r=A%d t="inlineStr"><is><t>Kapot</t></is></c></row>' % (r + 1, r + 1)
    at = bad.index("r=A")
    xml += "y" * (65536 - 2 - at - len(xml)) + bad  # "r=A" at bytes 65534..65536
    write_raw(path, xml + SHEET_TAIL)


def write_markers_stored(path):
    # Stored, not deflated: byte mutations reach the XML tokenizer.
    shared = ('<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
              '<si><t>MARKERSHAREDQX</t></si><si><r><t>MARKERRUNQX</t></r></si></sst>')
    cells = "".join('<c r="%s1" t="inlineStr"><is><t>%s</t></is></c>' % (col, name)
                    for col, name in zip("ABCDEFG", HEADER))
    row = ('<row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2" t="s"><v>1</v></c>'
           '<c r="C2" t="inlineStr"><is><t>MARKERNRN&amp;QX</t></is></c><c r="D2" t="str"><v>MARKERSTATUSQX</v></c>'
           '<c r="E2" t="inlineStr"><is><r><t>MARKER</t></r><r><t>DOCSQX</t></r></is></c>'
           '<c r="F2" s="1"><v>45562</v></c><c r="G2"><v>1.5</v></c></row>')
    write_raw(path, SHEET_HEAD + '<row r="1">' + cells + '</row>' + row + SHEET_TAIL, shared=shared,
              styles=DATE_STYLES, compression=zipfile.ZIP_STORED)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    write_valid(os.path.join(out, "cir_valid.xlsx"))
    write_two_sheets(os.path.join(out, "two_sheets.xlsx"))
    write_invalid(os.path.join(out, "cir_invalid.xlsx"))
    write_markers(os.path.join(out, "markers.xlsx"))
    write_inline(os.path.join(out, "inline.xlsx"))
    write_bomb(os.path.join(out, "bomb.xlsx"))
    write_wide(os.path.join(out, "wide.xlsx"))
    write_big(os.path.join(out, "big.xlsx"))
    write_doctype_bomb(os.path.join(out, "doctype_bomb.xlsx"))
    write_chunk_split(os.path.join(out, "chunk_split.xlsx"))
    write_bad_at_boundary(os.path.join(out, "bad_at_boundary.xlsx"))
    write_markers_stored(os.path.join(out, "markers_stored.xlsx"))
    with open(os.path.join(out, "not_a_zip.xlsx"), "wb") as f:
        f.write(b"Naam;Voornaam\nthis is a csv renamed to xlsx\n")
    with open(os.path.join(out, "stamp"), "w") as f:
        f.write("ok\n")


if __name__ == "__main__":
    main()
