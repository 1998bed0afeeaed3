// Reads a received CSV list into rows for the table in the page. The list
// was checked against the protocol by the sender and its bytes are verified
// (signature, size, hash) before this runs; this reader only displays it,
// with the quirks of Belgian exports: a UTF-8 BOM, Windows-1252 text, ';' or
// ',' or tab as separator, quoted fields with doubled quotes.

export function decodeText(bytes) {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return new TextDecoder("windows-1252").decode(bytes);
  }
}

function separatorOf(firstLine) {
  const counts = [";", ",", "\t"].map((s) => [s, firstLine.split(s).length]);
  counts.sort((a, b) => b[1] - a[1]);
  return counts[0][0];
}

// Up to `maxRows` rows (the header first) and the number of data rows in all.
export function parseCsv(text, maxRows) {
  const firstLine = text.slice(0, text.search(/\r?\n|$/));
  const sep = separatorOf(firstLine);
  const rows = [];
  let count = 0;
  let row = [];
  let field = "";
  let quoted = false;
  const endRow = () => {
    row.push(field);
    field = "";
    if (!(row.length === 1 && row[0] === "")) {
      if (rows.length < maxRows) rows.push(row);
      count++;
    }
    row = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"' && field === "") {
      quoted = true;
    } else if (c === sep) {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRow();
    } else {
      field += c;
    }
  }
  if (field !== "" || row.length > 0) endRow();
  return { rows, dataRows: Math.max(0, count - 1) };
}
