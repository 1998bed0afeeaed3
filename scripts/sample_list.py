#!/usr/bin/env python3
"""Generates a sample CIR list of fictional people with valid Belgian national
register numbers (check digits computed, born 1950-2005). No real people."""
import argparse
import csv
import random
import sys

FIRST = ["Emma", "Lucas", "Noor", "Arthur", "Olivia", "Louis", "Mila", "Jules", "Elena", "Victor"]
LAST = ["Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "De Smet"]
STATUS = ["niet bevestigd", "herinnering verstuurd", "onvolledig dossier"]
DOCS = ["identiteitsbewijs", "inkomensattest", "geen", "attest referentieadres"]


def national_number(rng: random.Random) -> str:
    year = rng.randint(1950, 2005)
    month, day, serial = rng.randint(1, 12), rng.randint(1, 28), rng.randint(1, 997)
    base = f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}"
    number = int(("2" if year >= 2000 else "") + base)
    return f"{base}{97 - number % 97:02d}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--extra-column", help="add a column the protocol does not allow")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    out = csv.writer(sys.stdout, delimiter=";", lineterminator="\r\n")
    header = ["Naam", "Voornaam", "Rijksregisternummer", "Status dossier", "Ontbrekende documenten",
              "Datum uitnodigingsbrief", "Datum herinnering"]
    if args.extra_column:
        header.append(args.extra_column)
    out.writerow(header)
    for _ in range(args.rows):
        row = [rng.choice(LAST), rng.choice(FIRST), national_number(rng), rng.choice(STATUS),
               rng.choice(DOCS), "2024-08-01", "2024-08-31"]
        if args.extra_column:
            row.append(f"04{rng.randint(70000000, 99999999)}")
        out.writerow(row)


if __name__ == "__main__":
    main()
